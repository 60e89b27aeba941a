-- One-time ids seen (RFC 9449 DPoP proof jti, RFC 7523 client assertion jti), as SHA-256
-- digests of the id, never the id itself; kept until expires_at (when the proof or assertion
-- could no longer be accepted anyway) and purged after that.
CREATE TABLE replay_ids (
    kind TEXT NOT NULL,
    id_digest TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id_digest)
);

CREATE INDEX replay_ids_expires_at ON replay_ids (expires_at);
