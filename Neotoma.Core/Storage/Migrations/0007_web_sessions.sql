-- The person's side: web sessions, remembered consent, personal tokens. See docs/storage.md.

-- Which sign-in a state starts: an MCP client's ('client') or the connections page's ('web').
-- browser_binding is the SHA-256 of a cookie set in the browser that started the sign-in: only
-- that browser's callback may start a web session (no one can sign a person in as someone else).
ALTER TABLE mcp_oauth_state
    ADD COLUMN flow            text NOT NULL DEFAULT 'client' CHECK (flow IN ('client', 'web')),
    ADD COLUMN browser_binding text;

-- What the page shows of a connection: where it sends the browser back, what the person approved,
-- whether an OAuth client or the person's own personal token made it, and (personal tokens) when it ends.
ALTER TABLE mcp_oauth_connections
    ADD COLUMN origin       text NOT NULL DEFAULT 'client' CHECK (origin IN ('client', 'personal')),
    ADD COLUMN redirect_uri text,
    ADD COLUMN scope        text,
    ADD COLUMN expires_at   timestamptz;

-- A signed-in browser. The cookie holds a random 256-bit value; only its SHA-256 is stored, so a
-- copy of this table signs no one in. Deleting the row signs the browser out on every instance.
CREATE TABLE mcp_oauth_web_sessions (
    session_hash    text        PRIMARY KEY,
    user_id         text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX mcp_oauth_web_sessions_expires_at_idx ON mcp_oauth_web_sessions (expires_at);
CREATE INDEX mcp_oauth_web_sessions_user_id_idx ON mcp_oauth_web_sessions (user_id);

-- A person's approval of one client, redirect URI and scope, remembered so the next authorization
-- of the same (or a narrower) request by the same person, signed in, needs no consent page.
CREATE TABLE mcp_oauth_consents (
    user_id         text        NOT NULL,
    client_id       text        NOT NULL,
    redirect_uri    text        NOT NULL,
    scope           text        NOT NULL,
    approved_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id, redirect_uri)
);

SELECT neotoma_protect_oauth_table('mcp_oauth_web_sessions');
SELECT neotoma_protect_oauth_table('mcp_oauth_consents');

-- The connections page reads as the signed-in person (neotoma.user_id): their own rows only.
CREATE POLICY user_reads_own ON mcp_oauth_consents FOR SELECT
    USING (user_id = current_setting('neotoma.user_id', true));
CREATE POLICY user_reads_own ON mcp_oauth_audit FOR SELECT
    USING (user_id = current_setting('neotoma.user_id', true));
