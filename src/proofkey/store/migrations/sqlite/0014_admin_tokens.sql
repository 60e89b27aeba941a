-- Bearer tokens for the admin REST API (/admin/api/v1): shown once, kept as SHA-256 digests;
-- token_id is the public name that lists, revokes and audit lines use.
CREATE TABLE admin_tokens (
    token_id     TEXT PRIMARY KEY,
    token_digest TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    description  TEXT NOT NULL DEFAULT ''
) STRICT;
