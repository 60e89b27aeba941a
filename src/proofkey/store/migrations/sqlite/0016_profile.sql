-- A per-client security profile ('' or 'fapi2': FAPI 2.0 Security Profile, flows/profile.py)
-- and whether the client must use DPoP (RFC 9449 §5.2 dpop_bound_access_tokens).
-- MERGE NOTE: require_dpop also comes with h-dpop-as; keep exactly one ALTER for it.
ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_dpop INTEGER NOT NULL DEFAULT 0;
