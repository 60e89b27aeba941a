-- A per-client security profile ('' or 'fapi2': FAPI 2.0 Security Profile, flows/profile.py).
-- (require_dpop, which the profile turns on, comes with 0012_dpop.)
ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT '';
