-- proofkey PostgreSQL schema, version 0004: device user codes are stored as the SHA-256 hex
-- digest of their normalised form (upper case, no dash), like every other secret, and looked
-- up by it. The stored codes are already normalised, so every row is converted in place
-- (sha256() is built in since PostgreSQL 11): no request is lost.

ALTER TABLE device_authorizations RENAME COLUMN user_code TO user_code_digest;
ALTER TABLE device_authorizations RENAME CONSTRAINT device_authorizations_user_code_key
    TO device_authorizations_user_code_digest_key;
UPDATE device_authorizations
    SET user_code_digest = encode(sha256(convert_to(user_code_digest, 'UTF8')), 'hex');
