-- private_key_jwt (RFC 7523 §2.2, OIDC Core §9): a client's public keys, inline (a JWK Set as
-- JSON text) or by URL, and the one algorithm its assertions must use ('' = any allowed).
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT NOT NULL DEFAULT '';
