-- Keys in phases and the user lifecycle (docs/admin.md).
-- A signing key is published at created_at and signs from activates_at (NULL: from created_at,
-- as every key made before this version did); the newest activated key of an algorithm signs.
-- A user may be disabled (no login; what they held was revoked) and may have no password yet
-- (created with a password-set link).
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER;
ALTER TABLE users ADD COLUMN disabled_at INTEGER;

-- Single-use password-set links, kept as the SHA-256 digest of the link's token.
CREATE TABLE password_set_tokens (
    token_digest TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX password_set_tokens_user_id ON password_set_tokens (user_id);
CREATE INDEX password_set_tokens_expires_at ON password_set_tokens (expires_at);
CREATE INDEX device_authorizations_user_id ON device_authorizations (user_id);
CREATE INDEX auth_codes_user_id ON auth_codes (user_id);
CREATE INDEX grants_client_id ON grants (client_id);
