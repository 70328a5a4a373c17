-- OAuth state of Neotoma's authorization server. docs/storage.md describes every table:
-- what a row means, how long it lives and who deletes it.
--
-- Row-level security is enabled and FORCED on every table, so even the owning role (the
-- app connects as the owner, which is neither superuser nor BYPASSRLS) sees no row unless
-- the transaction declares why it is looking: the authorization server sets
-- `neotoma.scope = 'oauth'`, MCP tools set `neotoma.user_id` and see only that user's rows.

-- A pending sign-in: created on consent (initiate), consumed once by the upstream callback.
CREATE TABLE mcp_oauth_state (
    state                   text        PRIMARY KEY,
    connection_id           text        NOT NULL,
    upstream_code_verifier  text        NOT NULL,
    upstream_nonce          text        NOT NULL,
    client_id               text,
    client_name             text,
    redirect_uri            text,
    code_challenge          text,
    client_state            text,
    scope                   text,
    resource                text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    expires_at              timestamptz NOT NULL
);
CREATE INDEX mcp_oauth_state_expires_at_idx ON mcp_oauth_state (expires_at);
CREATE INDEX mcp_oauth_state_connection_id_idx ON mcp_oauth_state (connection_id);

-- One authorized MCP client for one user. `refresh_token` is the upstream refresh token,
-- AES-256-GCM encrypted as `iv:authTag:ciphertext` (hex); it never leaves the server.
CREATE TABLE mcp_oauth_connections (
    connection_id                   text        PRIMARY KEY,
    user_id                         text        NOT NULL,
    client_id                       text,
    client_name                     text,
    refresh_token                   text,
    upstream_access_token           text,
    upstream_access_token_expires_at timestamptz,
    created_at                      timestamptz NOT NULL DEFAULT now(),
    last_used_at                    timestamptz,
    revoked_at                      timestamptz
);
CREATE INDEX mcp_oauth_connections_user_id_idx ON mcp_oauth_connections (user_id);
CREATE INDEX mcp_oauth_connections_client_id_idx ON mcp_oauth_connections (client_id);

-- The two policies every table gets, defined once. Row-level security is enabled and forced
-- (forced: the owning role is bound too), then one policy says who may see and write rows.
CREATE FUNCTION neotoma_protect_oauth_table(target regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
    EXECUTE format($sql$CREATE POLICY oauth_service ON %s
        USING (current_setting('neotoma.scope', true) = 'oauth')
        WITH CHECK (current_setting('neotoma.scope', true) = 'oauth')$sql$, target);
END $$;

CREATE FUNCTION neotoma_protect_user_table(target regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
    EXECUTE format($sql$CREATE POLICY owner ON %s
        USING (user_id = current_setting('neotoma.user_id', true))
        WITH CHECK (user_id = current_setting('neotoma.user_id', true))$sql$, target);
END $$;

SELECT neotoma_protect_oauth_table('mcp_oauth_state');
SELECT neotoma_protect_oauth_table('mcp_oauth_connections');
-- A signed-in user's tools may also read that user's own connections.
CREATE POLICY user_reads_own ON mcp_oauth_connections FOR SELECT
    USING (user_id = current_setting('neotoma.user_id', true));
