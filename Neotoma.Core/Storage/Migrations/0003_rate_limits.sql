-- Fixed one-minute windows of requests per endpoint and client IP, shared by every instance.
-- `bucket` is "<endpoint>:<client ip>". Old windows are deleted by the StateCleanup timer.
CREATE TABLE mcp_oauth_rate_limits (
    bucket          text        NOT NULL,
    window_start    timestamptz NOT NULL,
    hits            integer     NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX mcp_oauth_rate_limits_window_idx ON mcp_oauth_rate_limits (window_start);

SELECT neotoma_protect_oauth_table('mcp_oauth_rate_limits');
