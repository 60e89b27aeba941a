-- proofkey PostgreSQL schema, version 0001: the same tables, columns and indexes as the SQLite
-- migration. Times are BIGINT Unix seconds. Secret records are keyed by the SHA-256 hex digest
-- of the secret (never the secret). Scope lists, sets and redirect_uris are TEXT[] (lists keep
-- their order; sets are stored sorted). Names are unqualified: the tables go into the first
-- schema of the connection's search_path, which is how several proofkeys (or test runs) can
-- share one database.

CREATE TABLE schema_migrations (
    version    TEXT PRIMARY KEY,
    applied_at BIGINT NOT NULL
);

CREATE TABLE clients (
    client_id                    TEXT PRIMARY KEY,
    client_type                  TEXT NOT NULL CHECK (client_type IN ('public', 'confidential')),
    redirect_uris                TEXT[] NOT NULL,
    scopes                       TEXT[] NOT NULL,
    grant_types                  TEXT[] NOT NULL,
    token_endpoint_auth_method   TEXT NOT NULL,
    secret_digest                TEXT,
    id_token_signed_response_alg TEXT NOT NULL,
    name                         TEXT NOT NULL,
    created_at                   BIGINT NOT NULL
);

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE pending_authorizations (
    handle_digest  TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT[] NOT NULL,
    code_challenge TEXT NOT NULL,
    state          TEXT,
    nonce          TEXT,
    prompt         TEXT[] NOT NULL,
    max_age        BIGINT,
    browser_digest TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    user_id        TEXT,
    auth_time      BIGINT
);
CREATE INDEX pending_authorizations_expires_at ON pending_authorizations (expires_at);

CREATE TABLE sessions (
    session_digest TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT[] NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- grant_id is set when the code is redeemed, before the grant row is written: no foreign key.
CREATE TABLE auth_codes (
    code_digest    TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope          TEXT[] NOT NULL,
    nonce          TEXT,
    user_id        TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    issued_at      BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    redeemed_at    BIGINT,
    grant_id       TEXT
);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);
CREATE INDEX auth_codes_grant_id ON auth_codes (grant_id);

CREATE TABLE grants (
    grant_id   TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT,
    scope      TEXT[] NOT NULL,
    auth_time  BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_expires_at ON grants (expires_at);

-- A grant's tokens go with it when an expired grant is purged.
CREATE TABLE refresh_tokens (
    token_digest  TEXT PRIMARY KEY,
    grant_id      TEXT NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    issued_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    parent_digest TEXT,
    rotated_at    BIGINT,
    replaced_by   TEXT
);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_jwk TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
