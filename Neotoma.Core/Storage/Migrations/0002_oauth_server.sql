-- The authorization server's own records: registered MCP clients, authorization codes,
-- issued tokens (only their SHA-256 hashes), and the audit trail. See docs/storage.md.

-- An MCP client registered through RFC 7591 dynamic registration.
CREATE TABLE mcp_oauth_clients (
    client_id                   text        PRIMARY KEY,
    client_name                 text,
    redirect_uris               text[]      NOT NULL,
    grant_types                 text[]      NOT NULL,
    response_types              text[]      NOT NULL,
    token_endpoint_auth_method  text        NOT NULL,
    client_uri                  text,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    last_used_at                timestamptz
);
CREATE INDEX mcp_oauth_clients_last_used_idx ON mcp_oauth_clients (coalesce(last_used_at, created_at));

-- Neotoma's authorization code, handed to the MCP client's redirect URI; single use.
CREATE TABLE mcp_oauth_codes (
    code_hash       text        PRIMARY KEY,
    connection_id   text        NOT NULL REFERENCES mcp_oauth_connections (connection_id) ON DELETE CASCADE,
    client_id       text        NOT NULL,
    redirect_uri    text        NOT NULL,
    code_challenge  text        NOT NULL,
    scope           text        NOT NULL,
    resource        text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE INDEX mcp_oauth_codes_expires_at_idx ON mcp_oauth_codes (expires_at);
CREATE INDEX mcp_oauth_codes_connection_id_idx ON mcp_oauth_codes (connection_id);

-- Access and refresh tokens issued to MCP clients. A family is every token descended from
-- one authorization code; reuse of a rotated refresh token revokes the whole family.
-- Deleting a connection keeps its tokens (connection_id NULL) so that their holder is told
-- OAUTH_CONNECTION_NOT_FOUND instead of a bare invalid_grant; the cleanup job removes them.
CREATE TABLE mcp_oauth_tokens (
    token_hash      text        PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('access', 'refresh')),
    family_id       text        NOT NULL,
    connection_id   text        REFERENCES mcp_oauth_connections (connection_id) ON DELETE SET NULL,
    client_id       text        NOT NULL,
    user_id         text        NOT NULL,
    scope           text        NOT NULL,
    resource        text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX mcp_oauth_tokens_family_idx ON mcp_oauth_tokens (family_id);
CREATE INDEX mcp_oauth_tokens_connection_id_idx ON mcp_oauth_tokens (connection_id);
CREATE INDEX mcp_oauth_tokens_expires_at_idx ON mcp_oauth_tokens (expires_at);

-- The upstream client Neotoma registered dynamically at the OpenID provider, once per deployment.
CREATE TABLE mcp_oauth_upstream_clients (
    issuer          text        PRIMARY KEY,
    client_id       text        NOT NULL,
    client_secret   text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The audit trail of the guide's events; never holds a token, code, verifier or secret.
CREATE TABLE mcp_oauth_audit (
    id              bigserial   PRIMARY KEY,
    event           text        NOT NULL,
    connection_id   text,
    user_id         text,
    client_id       text,
    client_ip       text,
    success         boolean     NOT NULL,
    error_code      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mcp_oauth_audit_created_at_idx ON mcp_oauth_audit (created_at);
CREATE INDEX mcp_oauth_audit_connection_id_idx ON mcp_oauth_audit (connection_id);

-- Re-authorizing one client for one user replaces the earlier grant.
CREATE UNIQUE INDEX mcp_oauth_connections_user_client_active_idx
    ON mcp_oauth_connections (user_id, client_id) WHERE revoked_at IS NULL AND client_id IS NOT NULL;

-- Only the authorization server (neotoma.scope = 'oauth') sees these tables.
SELECT neotoma_protect_oauth_table('mcp_oauth_clients');
SELECT neotoma_protect_oauth_table('mcp_oauth_codes');
SELECT neotoma_protect_oauth_table('mcp_oauth_tokens');
SELECT neotoma_protect_oauth_table('mcp_oauth_upstream_clients');
SELECT neotoma_protect_oauth_table('mcp_oauth_audit');
