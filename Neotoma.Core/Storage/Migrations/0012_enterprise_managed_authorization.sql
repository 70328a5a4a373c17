-- Enterprise-managed authorization (MCP ext-auth; ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant).
-- See docs/storage.md.

-- Who a person is at an identity provider, and which Neotoma user that is. A person is keyed by
-- (issuer, subject), never by subject alone: the same sub at two providers is two people. For Entra ID
-- the subject is "tid/oid" (tenant and object id), since Entra's sub differs per application and the
-- interactive upstream and an enterprise IdP's ID-JAG would otherwise name one person two ways.
-- Existing users are not rewritten: until now user_id was the upstream sub, and the callback keeps
-- producing exactly that for an identity it meets first through the upstream, so a person's rows in every
-- other table stay theirs. Rows are made on first sight (the upstream's issuer is a setting this
-- migration cannot know).
CREATE TABLE mcp_oauth_identities (
    issuer       text        NOT NULL,
    subject      text        NOT NULL,
    user_id      text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX mcp_oauth_identities_user_idx ON mcp_oauth_identities (user_id);
SELECT neotoma_protect_oauth_table('mcp_oauth_identities');

-- Clients the operator registers for enterprise use (./neotoma register-enterprise-client): confidential,
-- with a client secret stored only as its SHA-256 (client_secret_basic or client_secret_post) or with
-- private_key_jwt and a registered jwks_uri. Only they may use the JWT bearer grant; they never expire
-- from disuse, and they cannot use the browser flow (no redirect URIs).
ALTER TABLE mcp_oauth_clients ADD COLUMN client_secret_hash text;
ALTER TABLE mcp_oauth_clients ADD COLUMN enterprise boolean NOT NULL DEFAULT false;
ALTER TABLE mcp_oauth_clients DROP CONSTRAINT mcp_oauth_clients_auth_method_check;
ALTER TABLE mcp_oauth_clients ADD CONSTRAINT mcp_oauth_clients_auth_method_check
    CHECK (token_endpoint_auth_method IN ('none', 'private_key_jwt', 'client_secret_basic', 'client_secret_post')
           AND (jwks_uri IS NOT NULL) = (token_endpoint_auth_method = 'private_key_jwt')
           AND (client_secret_hash IS NOT NULL) = (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post'))
           AND (enterprise OR token_endpoint_auth_method IN ('none', 'private_key_jwt')));

-- Access an organization's IdP granted a client for a person (origin 'enterprise'): one connection per
-- person and client, reused by every ID-JAG, so the person sees it once on the connections page (with the
-- IdP that granted it, idp_issuer) and can revoke it there.
ALTER TABLE mcp_oauth_connections DROP CONSTRAINT mcp_oauth_connections_origin_check;
ALTER TABLE mcp_oauth_connections ADD CONSTRAINT mcp_oauth_connections_origin_check
    CHECK (origin IN ('client', 'personal', 'enterprise'));
ALTER TABLE mcp_oauth_connections ADD COLUMN idp_issuer text;

-- A person's refusal of one client's enterprise-granted access. The client could fetch a fresh ID-JAG at
-- once, so revoking its connection alone would not hold: while a row is here the JWT bearer grant refuses
-- that client for that person. Deleted when the person allows the client again on the connections page.
CREATE TABLE mcp_oauth_enterprise_blocks (
    user_id    text        NOT NULL,
    client_id  text        NOT NULL,
    blocked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id)
);
SELECT neotoma_protect_oauth_table('mcp_oauth_enterprise_blocks');
CREATE POLICY user_reads_own ON mcp_oauth_enterprise_blocks FOR SELECT
    USING (user_id = current_setting('neotoma.user_id', true));
