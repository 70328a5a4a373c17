-- Confidential clients that authenticate with private_key_jwt (RFC 7523 §2.2, OpenID Connect Core §9),
-- declared in their Client ID Metadata Document. See docs/storage.md.

-- Where the client publishes its public keys. Set only with token_endpoint_auth_method 'private_key_jwt'
-- (dynamic registration stays 'none'); replaced by every fetch of the document, so a client that changes
-- its method or its keys is held to the new ones from then on.
ALTER TABLE mcp_oauth_clients ADD COLUMN jwks_uri text;
ALTER TABLE mcp_oauth_clients ADD CONSTRAINT mcp_oauth_clients_auth_method_check
    CHECK (token_endpoint_auth_method IN ('none', 'private_key_jwt')
           AND (jwks_uri IS NOT NULL) = (token_endpoint_auth_method = 'private_key_jwt'));

-- A JWT id (jti) seen once per issuer, kept until the JWT it came in expires, so that no instance
-- accepts the same JWT twice (client assertions now; enterprise-managed authorization grants later).
-- Inserted with ON CONFLICT DO NOTHING: the one insert that lands wins, a concurrent or later one sees
-- nothing inserted and is refused. Deleted by the cleanup timer once expired, when the JWT itself
-- would be refused anyway.
CREATE TABLE mcp_oauth_jwt_ids (
    issuer      text        NOT NULL,
    jti         text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX mcp_oauth_jwt_ids_expires_idx ON mcp_oauth_jwt_ids (expires_at);
SELECT neotoma_protect_oauth_table('mcp_oauth_jwt_ids');
