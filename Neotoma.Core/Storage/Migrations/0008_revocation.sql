-- One owner of revocation (TokenRevocation). See docs/storage.md.

-- Upstream tokens to revoke at the provider. A row is written in the transaction that revokes a
-- connection, so a revocation that commits is never forgotten, even if the process dies before it
-- reaches the provider; UpstreamRevocations sends it after the commit and retries with backoff
-- while the provider does not answer. The token is kept as it was stored: encrypted. held_by names
-- the connection (or the browser sign-in) that held it, for the logs.
CREATE TABLE mcp_oauth_upstream_revocations (
    id              bigserial   PRIMARY KEY,
    token           text        NOT NULL,
    token_type_hint text        NOT NULL CHECK (token_type_hint IN ('refresh_token', 'access_token')),
    held_by         text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mcp_oauth_upstream_revocations_next_attempt_idx ON mcp_oauth_upstream_revocations (next_attempt_at);
SELECT neotoma_protect_oauth_table('mcp_oauth_upstream_revocations');

-- A connection whose authorization code has not been redeemed yet. Re-authorizing a client replaces
-- its earlier connection only when the new code is redeemed (not when it is issued: a code nobody
-- redeems must not disconnect anything), so for that moment a person may hold a live connection and
-- a pending one for the same client.
ALTER TABLE mcp_oauth_connections ADD COLUMN pending boolean NOT NULL DEFAULT false;
DROP INDEX mcp_oauth_connections_user_client_active_idx;
CREATE UNIQUE INDEX mcp_oauth_connections_user_client_active_idx
    ON mcp_oauth_connections (user_id, client_id) WHERE revoked_at IS NULL AND client_id IS NOT NULL AND NOT pending;
CREATE INDEX mcp_oauth_connections_pending_idx ON mcp_oauth_connections (created_at) WHERE pending AND revoked_at IS NULL;
