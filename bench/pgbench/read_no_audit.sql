-- Reference for a read without audit: read.sql without its audit insert.
-- Run by `just bench` with pgbench -M prepared -c 32 -j 2.
\set c random(0, 999)
\set s random(0, 99)
select accessor, display_name, policies, client_id, parent_accessor, created_at, expires_at, revoked_at, issuer, ttl, max_expires_at, bound_cidrs, meta from tokens where digest = sha256(convert_to('bench-ref-' || :c, 'UTF8'));
select name, policy from policies where name in ('bench-c' || :c);
select current_version from kv_secrets where mount = 'secret' and path = 'ref/bench/c' || :c || '/s' || :s \gset
select version, created_at, deletion_time, destroyed, format, term, dek_nonce, wrapped_dek, nonce, ciphertext from kv_versions where mount = 'secret' and path = 'ref/bench/c' || :c || '/s' || :s and version = :current_version;
