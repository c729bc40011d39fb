-- The audit chain key (doc/audit.md, "The hash chain"). Keep in step with
-- ../postgres/0008_audit_chain_key.sql.
-- One random key per database, wrapped by the root key (AES-256-GCM, associated data
-- `confmgr/v1/audit-chain-key|{keyed_from}`) and rewrapped by `confmgr-server rekey`. The first
-- seal pass after this migration creates it: events from seq keyed_from on are linked with
-- HMAC-SHA256 under a key derived from it; events sealed before (seq < keyed_from) keep their
-- unkeyed SHA-256 links.
create table audit_chain_key (
    id integer primary key check (id = 1),
    keyed_from bigint not null,
    nonce blob not null,
    wrapped_key blob not null,
    created_at bigint not null
);

-- Retention keys its checkpoints too: mac = HMAC-SHA256(chain MAC key,
-- "confmgr/v1/audit-checkpoint|{seq}|" || hash). Null on checkpoints made before the key
-- existed; verification refuses a checkpoint at or above keyed_from without a valid mac, so
-- deleting the oldest events and adding a checkpoint no longer passes for retention.
alter table audit_checkpoints add column mac blob;
