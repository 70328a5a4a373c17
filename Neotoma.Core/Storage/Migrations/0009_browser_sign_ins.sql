-- A person's sign-in at the provider in a browser, which keeps the connections page's session and
-- what it made (connections from a remembered approval, personal tokens) bounded by the provider.
-- See docs/storage.md.
--
-- A sign-in on the connections page keeps the provider's tokens (encrypted like a connection's) and is
-- re-checked with the provider by the 5-minute timer when its upstream access token is due; a sign-in
-- that came with an MCP client's connection holds none (that connection holds them) and ends at
-- expires_at, the web session's absolute lifetime, as does one whose provider issued no refresh token.
-- When it ends (the provider refused it, it expired, or nothing uses it any more) its sessions end,
-- what it made is revoked and its upstream refresh token is revoked at the provider.
CREATE TABLE mcp_oauth_browser_sign_ins (
    sign_in_id                        text        PRIMARY KEY,
    user_id                           text        NOT NULL,
    refresh_token                     text,
    upstream_access_token             text,
    upstream_access_token_expires_at  timestamptz,
    created_at                        timestamptz NOT NULL DEFAULT now(),
    expires_at                        timestamptz,
    ended_at                          timestamptz
);
CREATE INDEX mcp_oauth_browser_sign_ins_user_idx ON mcp_oauth_browser_sign_ins (user_id) WHERE ended_at IS NULL;
CREATE INDEX mcp_oauth_browser_sign_ins_live_idx ON mcp_oauth_browser_sign_ins (created_at) WHERE ended_at IS NULL;
SELECT neotoma_protect_oauth_table('mcp_oauth_browser_sign_ins');

-- Sessions from before sign-ins were kept have nothing to bound them by: they end, and their people
-- sign in again. The column stays nullable for the length of a rolling deployment, while an instance
-- of the previous version may still start a session without one; such a session signs no one in.
DELETE FROM mcp_oauth_web_sessions;
ALTER TABLE mcp_oauth_web_sessions
    ADD COLUMN sign_in_id text REFERENCES mcp_oauth_browser_sign_ins (sign_in_id) ON DELETE CASCADE;
CREATE INDEX mcp_oauth_web_sessions_sign_in_idx ON mcp_oauth_web_sessions (sign_in_id);

-- Connections a browser sign-in made (from a remembered approval, or a personal token) end with it.
ALTER TABLE mcp_oauth_connections
    ADD COLUMN sign_in_id text REFERENCES mcp_oauth_browser_sign_ins (sign_in_id);
CREATE INDEX mcp_oauth_connections_sign_in_idx ON mcp_oauth_connections (sign_in_id) WHERE sign_in_id IS NOT NULL AND revoked_at IS NULL;
