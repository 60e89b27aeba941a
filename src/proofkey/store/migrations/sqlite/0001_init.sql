-- proofkey SQLite schema, version 0001: every table the store Protocols need.
-- Times are INTEGER Unix seconds. Secret records are keyed by the SHA-256 hex digest of the
-- secret (never the secret). Sets and scope lists are space-separated TEXT; redirect_uris is a
-- JSON array (order matters). STRICT tables need SQLite >= 3.37, RETURNING >= 3.35.

CREATE TABLE schema_migrations (
    version    TEXT PRIMARY KEY,
    applied_at INTEGER NOT NULL
) STRICT;

CREATE TABLE clients (
    client_id                    TEXT PRIMARY KEY,
    client_type                  TEXT NOT NULL CHECK (client_type IN ('public', 'confidential')),
    redirect_uris                TEXT NOT NULL,
    scopes                       TEXT NOT NULL,
    grant_types                  TEXT NOT NULL,
    token_endpoint_auth_method   TEXT NOT NULL,
    secret_digest                TEXT,
    id_token_signed_response_alg TEXT NOT NULL,
    name                         TEXT NOT NULL,
    created_at                   INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE pending_authorizations (
    handle_digest  TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    state          TEXT,
    nonce          TEXT,
    prompt         TEXT NOT NULL,
    max_age        INTEGER,
    browser_digest TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    user_id        TEXT,
    auth_time      INTEGER
) STRICT;
CREATE INDEX pending_authorizations_expires_at ON pending_authorizations (expires_at);

CREATE TABLE sessions (
    session_digest TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

-- grant_id is set when the code is redeemed, before the grant row is written: no foreign key.
CREATE TABLE auth_codes (
    code_digest    TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    user_id        TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    redeemed_at    INTEGER,
    grant_id       TEXT
) STRICT;
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);
CREATE INDEX auth_codes_grant_id ON auth_codes (grant_id);

CREATE TABLE grants (
    grant_id   TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT,
    scope      TEXT NOT NULL,
    auth_time  INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX grants_expires_at ON grants (expires_at);

-- A grant's tokens go with it when an expired grant is purged.
CREATE TABLE refresh_tokens (
    token_digest  TEXT PRIMARY KEY,
    grant_id      TEXT NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    issued_at     INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    parent_digest TEXT,
    rotated_at    INTEGER,
    replaced_by   TEXT
) STRICT;
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_jwk TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
) STRICT;
