-- proofkey SQLite schema, version 0004: device user codes are stored as the SHA-256 hex digest
-- of their normalised form (upper case, no dash), like every other secret, and looked up by it.
-- SQLite has no SHA-256 in SQL, so rows cannot be converted here: pending requests (at most
-- DEVICE_CODE_TTL, 10 minutes, old) are deleted, so their devices get invalid_grant on the next
-- poll and the user starts again; decided ones keep what their device still needs (status,
-- grant, consumption) under a value no digest can equal, since only pending requests are ever
-- looked up by user code.

ALTER TABLE device_authorizations RENAME COLUMN user_code TO user_code_digest;
DELETE FROM device_authorizations WHERE status = 'pending';
UPDATE device_authorizations SET user_code_digest = 'retired:' || device_digest;
