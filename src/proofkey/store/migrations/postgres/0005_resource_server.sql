-- Clients marked as resource servers may introspect other clients' access tokens (RFC 7662
-- §2.1, §4); any other client only its own tokens.
ALTER TABLE clients ADD COLUMN resource_server BOOLEAN NOT NULL DEFAULT FALSE;
