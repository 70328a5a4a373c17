-- When each background job last ran and what it did: `./neotoma doctor` checks that the
-- 5-minute cleanup really runs. One row per job, overwritten at every run.
CREATE TABLE mcp_maintenance_runs (
    job             text        PRIMARY KEY,
    last_run_at     timestamptz NOT NULL,
    last_result     jsonb       NOT NULL
);

SELECT neotoma_protect_oauth_table('mcp_maintenance_runs');
