-- Key rotation (doc/keys.md): find the versions each keyring term wraps without a full scan
-- (wraps per term, background rewrap, the start-up check for unknown terms).
-- Keep in step with ../postgres/0005_key_rotation.sql.
create index kv_versions_term on kv_versions (term);
