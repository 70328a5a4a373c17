-- What a client says it is (SEP-837, the MCP authorization spec of 2026-07-28; OpenID Connect
-- Registration's application_type): 'native' (on a person's machine: loopback, private-use schemes
-- and https redirects) or 'web' (https redirects only). NULL for a client that did not say.
ALTER TABLE mcp_oauth_clients
    ADD COLUMN application_type text CHECK (application_type IN ('native', 'web'));
