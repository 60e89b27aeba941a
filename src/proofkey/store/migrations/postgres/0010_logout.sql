-- OIDC RP-Initiated Logout 1.0: each client's registered post-logout redirect URIs (compared
-- exactly) and whether logging out revokes the grants issued in the ended session. Sessions
-- are listed per user on /account.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN revoke_on_logout BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX grants_user_id ON grants (user_id);
