-- A version per client, bumped by every update (store update_client): the admin API's ETag is
-- derived from it and If-Match is a compare-and-swap on it (UPDATE ... WHERE version = $n),
-- so two server instances sharing the database cannot both apply a change made from the
-- same read (docs/admin.md, "Pagination, ETag and If-Match").
ALTER TABLE clients ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
