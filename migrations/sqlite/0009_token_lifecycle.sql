-- Vault's token lifecycle and AppRole in full (issue 28, items 3 and 4): periodic, use-limited
-- and role-made tokens, token roles, the built-in default policy, and the AppRole role
-- settings that shape the tokens a login makes. Keep in step with
-- ../postgres/0009_token_lifecycle.sql.

-- tokens: what vault keeps per token beyond its ttl and max
alter table tokens add column period bigint not null default 0;           -- seconds; > 0: every renewal grants exactly this, and only explicit_max_ttl caps it
alter table tokens add column explicit_max_ttl bigint not null default 0; -- seconds asked at creation, 0 = none (already folded into max_expires_at)
alter table tokens add column num_uses bigint not null default 0;         -- uses left, 0 = unlimited; the use that reaches 0 revokes the token
alter table tokens add column renewable bigint not null default 1;        -- 1 = renew-self and renew may extend it
alter table tokens add column role_name text;                             -- the token role it was created against, if any
alter table tokens add column path text not null default '';              -- where it was made (auth/token/create, auth/approle/login, ...)

-- token roles (auth/token/roles/:name): the settings a token created against the role gets.
-- settings is a json object: allowed_policies, disallowed_policies, orphan, renewable,
-- period, explicit_max_ttl, token_type, path_suffix, token_bound_cidrs, token_no_default_policy
create table token_roles (
    name text primary key,                -- lowercased, as vault stores role names
    settings text not null,
    created_at bigint not null,
    updated_at bigint not null
);

-- approle roles: the token settings vault documents that confmgr now enforces
alter table clients add column token_period bigint not null default 0;            -- seconds; > 0: login tokens are periodic
alter table clients add column token_explicit_max_ttl bigint not null default 0;  -- seconds, 0 = none
alter table clients add column token_num_uses bigint not null default 0;          -- 0 = unlimited
alter table clients add column token_no_default_policy bigint not null default 0; -- 1 = login tokens do not get the default policy

-- the built-in default policy: lets every token look up, renew and revoke itself and ask
-- what it may do. Stored like any policy so it can be read, listed and edited (as in vault);
-- the server refuses to delete it. An existing policy of that name is kept.
insert into policies (name, policy, created_at, updated_at)
values ('default', '# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}
', cast((julianday('now') - 2440587.5) * 86400000000 as integer), cast((julianday('now') - 2440587.5) * 86400000000 as integer))
on conflict (name) do nothing;

-- tokens made before this migration could always look up, renew and revoke themselves
-- (those routes asked for no policy); now they ask for the default policy, so live tokens
-- other than root tokens get it, and keep what they could do
update tokens
set policies = json_insert(policies, '$[#]', 'default')
where revoked_at is null
  and not exists (select 1 from json_each(tokens.policies) where value in ('root', 'default'));
