-- Reference for an audited write, done the naive way: a new version made current and
-- inserted in one transaction, then the audit row in its own (both committed with fsync).
-- The bytes stand in for the sealed data key and ciphertext of a small secret; the rows
-- are the bench's copies under ref/, which the server never reads.
\set c random(0, 999)
\set s random(0, 99)
begin;
update kv_secrets set current_version = current_version + 1, updated_at = 0 where mount = 'secret' and path = 'ref/bench/c' || :c || '/s' || :s returning current_version \gset
insert into kv_versions (mount, path, version, created_at, format, term, dek_nonce, wrapped_dek, nonce, ciphertext) values ('secret', 'ref/bench/c' || :c || '/s' || :s, :current_version, 0, 1, 1, decode(repeat('ab', 12), 'hex'), decode(repeat('cd', 48), 'hex'), decode(repeat('ef', 12), 'hex'), decode(repeat('01', 80), 'hex'));
end;
insert into audit_events (event_id, time, request_id, actor_name, actor_accessor, issuer, client_id, remote_addr, user_agent, operation, mount, path, version, outcome, status) values (gen_random_uuid()::text, 0, gen_random_uuid()::text, 'bench', 'bench-ref-' || :c, 'confmgr', '', '127.0.0.1', 'pgbench', 'create', 'secret', 'ref/bench/c' || :c || '/s' || :s, :current_version, 'ok', 200);
