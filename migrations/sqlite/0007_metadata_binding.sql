-- Secret metadata bound under the keyring (doc/design.md, "Metadata binding"): each secret
-- carries an HMAC-SHA256 over its metadata and every version's state, keyed by a key
-- derived from keyring term meta_mac_term. Rows written before this migration have none
-- until a server binds them (on their next change, or the background backfill); once the
-- backfill has finished (system_state 'kv_metadata_bound') a missing MAC is refused.
-- The database cannot compute the MACs itself: it never holds a key.
-- Keep in step with ../postgres/0007_metadata_binding.sql.
alter table kv_secrets add column meta_mac_term bigint;
alter table kv_secrets add column meta_mac blob;
-- the backfill's scan, and the rewrap's search for MACs under older terms
create index kv_secrets_meta_mac_term on kv_secrets (meta_mac_term);
