-- When each background job last ran and what it did: `./neotoma doctor` checks that the
-- 5-minute cleanup really runs. One row per job, overwritten at every run.
CREATE TABLE mcp_maintenance_runs (
    job             text        PRIMARY KEY,
    last_run_at     timestamptz NOT NULL,
    last_result     jsonb       NOT NULL
);

ALTER TABLE mcp_maintenance_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_maintenance_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY oauth_service ON mcp_maintenance_runs
    USING (current_setting('neotoma.scope', true) = 'oauth')
    WITH CHECK (current_setting('neotoma.scope', true) = 'oauth');
