-- Pushed authorization requests (RFC 9126): one-time request_uri references, and the
-- per-client require_pushed_authorization_requests flag (RFC 9126 §6).
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE pushed_requests (
    request_digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    params JSONB NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);
