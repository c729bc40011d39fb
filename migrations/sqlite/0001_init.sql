-- ConfMgr schema, SQLite flavour. Keep in step with ../postgres/0001_init.sql:
-- both backends run the same queries, so column names and meanings must match.
-- Times are microseconds since the Unix epoch; flags are 0/1 bigints (portable through sqlx's Any driver).

-- one row once `init` has run; its presence is what "initialized" means
create table system_state (
    key text primary key,
    value text not null
);

-- key-encryption keys, each wrapped by the root key; the root key itself is never stored
create table keyring_terms (
    term bigint primary key,
    nonce blob not null,
    wrapped_key blob not null,
    created_at bigint not null
);

-- tokens are stored only as their sha-256 digest
create table tokens (
    digest blob primary key,
    accessor text not null unique,
    display_name text not null,
    policies text not null,            -- json array of policy names
    client_id text,                    -- null for tokens made by init or --dev
    parent_accessor text,
    created_at bigint not null,
    expires_at bigint,                 -- null: never expires
    revoked_at bigint
);

-- kv v2 mounts and their `config`
create table kv_mounts (
    mount text primary key,
    max_versions bigint not null default 0,            -- 0 = the default of 10, as in Vault
    cas_required bigint not null default 0,
    delete_version_after bigint not null default 0   -- seconds, 0 = never
);
insert into kv_mounts (mount) values ('secret');

-- one row per secret path: its metadata in clear (no secret values here)
create table kv_secrets (
    mount text not null references kv_mounts (mount),
    path text not null,
    current_version bigint not null default 0,
    oldest_version bigint not null default 0,
    max_versions bigint not null default 0,           -- 0 = the mount's setting
    cas_required bigint not null default 0,
    delete_version_after bigint not null default 0,
    custom_metadata text,                             -- json object of strings, or null
    created_at bigint not null,
    updated_at bigint not null,
    primary key (mount, path)
);

-- one row per version; the data is only ever here encrypted (see doc/design.md)
create table kv_versions (
    mount text not null,
    path text not null,
    version bigint not null,
    created_at bigint not null,
    deletion_time bigint,                             -- soft delete; may lie in the future
    destroyed bigint not null default 0,
    format bigint,                                    -- null once destroyed, like every crypto field
    term bigint,
    dek_nonce blob,
    wrapped_dek blob,
    nonce blob,
    ciphertext blob,
    primary key (mount, path, version),
    foreign key (mount, path) references kv_secrets (mount, path) on delete cascade
);
