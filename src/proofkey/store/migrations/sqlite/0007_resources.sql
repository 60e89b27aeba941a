-- Resource indicators (RFC 8707): the registered protected resources, and the resources a
-- pending authorization, a code, a grant and a device request were requested for
-- (space-separated URIs; a resource URI holds no space). Existing rows were requested for
-- none: the default audience.
CREATE TABLE resources (
    uri        TEXT PRIMARY KEY,
    scopes     TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

ALTER TABLE pending_authorizations ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE device_authorizations ADD COLUMN resources TEXT NOT NULL DEFAULT '';
