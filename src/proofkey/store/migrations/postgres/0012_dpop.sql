-- DPoP at the authorization server (RFC 9449): clients that must send a proof, the key
-- thumbprint (jkt) a pending authorization and its code are bound to (dpop_jkt, §10), the key a
-- public client's refresh token is bound to (§5), and the one server secret that DPoP nonces
-- (§8) are an HMAC under, shared by every instance on the database.
ALTER TABLE clients ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE pending_authorizations ADD COLUMN dpop_jkt TEXT;
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;

CREATE TABLE dpop_nonce_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
