-- Identity and access: API clients (AppRole roles), their secrets, ACL policies, and the
-- token fields the token lifecycle needs. Keep in step with ../sqlite/0002_identity.sql.

-- an api client: a machine identity; client_id is the approle role_id
create table clients (
    client_id text primary key,                 -- uuid, public
    name text not null unique,
    issuer text not null,                       -- 'confmgr' for locally issued credentials
    policies text not null,                     -- json array of policy names
    token_ttl bigint not null default 0,        -- seconds, 0 = server default
    token_max_ttl bigint not null default 0,    -- seconds, 0 = server default
    secret_id_ttl bigint not null default 0,    -- seconds, 0 = never expires
    secret_id_num_uses bigint not null default 0, -- 0 = unlimited
    secret_id_bound_cidrs text not null,        -- json array; empty = anywhere
    token_bound_cidrs text not null,            -- json array; empty = anywhere
    created_at bigint not null,
    updated_at bigint not null
);

-- client secrets (approle secret_ids): only an argon2id phc string is kept
create table client_secrets (
    accessor text primary key,                  -- public handle, for list/lookup/destroy
    client_id text not null references clients (client_id) on delete cascade,
    lookup_id text not null unique,             -- public prefix of the secret, finds the row
    phc text not null,                          -- argon2id hash of the secret part
    metadata text not null,                     -- json object of strings
    cidr_list text not null,                    -- json array; empty = the client's setting
    created_at bigint not null,
    expires_at bigint,                          -- null = never
    uses_left bigint                            -- null = unlimited
);
create index client_secrets_client on client_secrets (client_id);

-- acl policies in vault hcl, stored as written; parsed by the server
create table policies (
    name text primary key,
    policy text not null,
    created_at bigint not null,
    updated_at bigint not null
);

alter table tokens add column issuer text not null default 'confmgr';
alter table tokens add column ttl bigint not null default 0;            -- seconds granted at creation/renewal basis
alter table tokens add column max_expires_at bigint;                  -- renewals stop here; null = none
alter table tokens add column bound_cidrs text not null default '[]'; -- json array
alter table tokens add column meta text not null default '{}';        -- json object of strings
create index tokens_parent on tokens (parent_accessor);
