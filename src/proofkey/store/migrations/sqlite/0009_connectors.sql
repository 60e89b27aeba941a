-- Upstream identity providers (connectors), the local users linked to their subjects, and
-- the upstream leg's transactions (single use, keyed by the digest of their state).
CREATE TABLE connectors (
    name                   TEXT PRIMARY KEY,
    kind                   TEXT NOT NULL,
    issuer                 TEXT NOT NULL,
    client_id              TEXT NOT NULL,
    secret_sealed          TEXT NOT NULL,
    scope                  TEXT NOT NULL,
    legacy                 INTEGER NOT NULL DEFAULT 0,
    authorization_endpoint TEXT NOT NULL DEFAULT '',
    token_endpoint         TEXT NOT NULL DEFAULT '',
    userinfo_endpoint      TEXT NOT NULL DEFAULT '',
    claims                 TEXT NOT NULL DEFAULT '[]',
    created_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE user_links (
    connector  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (connector, subject)
) STRICT;

CREATE INDEX user_links_user_id ON user_links (user_id);

CREATE TABLE upstream_logins (
    state_digest   TEXT PRIMARY KEY,
    connector      TEXT NOT NULL,
    browser_digest TEXT NOT NULL,
    sealed         TEXT NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX upstream_logins_expires_at ON upstream_logins (expires_at);
CREATE INDEX users_email ON users (email);
