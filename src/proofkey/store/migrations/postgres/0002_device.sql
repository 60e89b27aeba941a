-- proofkey PostgreSQL schema, version 0002: device authorization requests (RFC 8628), the same
-- table as the SQLite migration. Keyed by the SHA-256 hex digest of the device code; the user
-- code is what the user types, so it is unique while the row lives. Columns in
-- DeviceAuthorization's field order, then previous_poll_at, the store's own: poll_device moves
-- last_polled_at into it in the same UPDATE that records the new poll, so RETURNING can report
-- the previous poll time.

CREATE TABLE device_authorizations (
    device_digest    TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT[] NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    interval         BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    user_id          TEXT,
    auth_time        BIGINT,
    last_polled_at   BIGINT,
    consumed_at      BIGINT,
    grant_id         TEXT,
    previous_poll_at BIGINT
);
CREATE INDEX device_authorizations_expires_at ON device_authorizations (expires_at);
