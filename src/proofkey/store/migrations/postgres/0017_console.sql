-- The operator console (docs/admin.md, "Console"): a role per user (only admins may enter the
-- console; `proofkey user set NAME --role admin`) and the console's own sessions, apart from
-- the login sessions of the OAuth flows. A session row holds the SHA-256 digest of its handle
-- (never the handle) and the digest of the password hash it was opened with, so a changed
-- password ends it; expired rows are purged with the rest.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));

CREATE TABLE admin_sessions (
    session_digest    TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,
    credential_digest TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL
);

CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);
