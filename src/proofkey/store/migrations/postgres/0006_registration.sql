-- Dynamic client registration (RFC 7591, RFC 7592): how a client came in, the digest of its
-- registration access token, what it registered for people to see, and when it was last seen
-- in use (for `proofkey client prune`).
ALTER TABLE clients ADD COLUMN client_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN logo_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registered_by TEXT NOT NULL DEFAULT 'cli'
    CHECK (registered_by IN ('cli', 'dynamic'));
ALTER TABLE clients ADD COLUMN registration_token_digest TEXT;
ALTER TABLE clients ADD COLUMN last_used_at BIGINT;

-- Initial access tokens for `POST /register` in mode `token` (stored as digests).
CREATE TABLE initial_access_tokens (
    token_digest TEXT PRIMARY KEY,
    token_id     TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    uses_left    BIGINT NOT NULL CHECK (uses_left >= 0)
);
CREATE INDEX initial_access_tokens_expires_at ON initial_access_tokens (expires_at);
