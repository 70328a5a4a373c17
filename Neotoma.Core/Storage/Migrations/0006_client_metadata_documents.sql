-- Clients identified by a Client ID Metadata Document: the client_id is the document's https URL,
-- and the row caches the document (name, redirect URIs, grant types) until document_expires_at,
-- after which it is fetched again (conditionally, with document_etag). NULL for clients that
-- registered dynamically. See docs/storage.md.
ALTER TABLE mcp_oauth_clients
    ADD COLUMN document_expires_at timestamptz,
    ADD COLUMN document_etag       text;
