-- The production signal for PKCE challenge reuse (docs/client-check.md, "In production"): a
-- SHA-256 digest of each client's recent code_challenge values, never the challenge itself,
-- kept until expires_at (the last sighting plus the reuse window) and purged after that.
-- Clients flagged reject_reused_challenge have a reused challenge refused.
ALTER TABLE clients ADD COLUMN reject_reused_challenge BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE pkce_challenges (
    client_id TEXT NOT NULL,
    challenge_digest TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    seen_count BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, challenge_digest)
);

CREATE INDEX pkce_challenges_expires_at ON pkce_challenges (expires_at);
