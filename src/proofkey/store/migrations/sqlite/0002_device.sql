-- proofkey SQLite schema, version 0002: device authorization requests (RFC 8628).
-- Keyed by the SHA-256 hex digest of the device code; the user code is what the user types, so
-- it is unique while the row lives. Columns in DeviceAuthorization's field order, then
-- previous_poll_at, the store's own: poll_device moves last_polled_at into it in the same
-- UPDATE that records the new poll, so RETURNING can report the previous poll time.

CREATE TABLE device_authorizations (
    device_digest    TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    interval         INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    user_id          TEXT,
    auth_time        INTEGER,
    last_polled_at   INTEGER,
    consumed_at      INTEGER,
    grant_id         TEXT,
    previous_poll_at INTEGER
) STRICT;
CREATE INDEX device_authorizations_expires_at ON device_authorizations (expires_at);
