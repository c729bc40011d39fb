-- The default policy grows the response-wrapping paths Vault's default policy grants
-- (sys/wrapping/wrap, lookup and unwrap), now that ConfMgr wraps responses (migration 0020).
-- Only a default policy still as migration 0009 wrote it is changed: one an operator edited
-- is theirs, as Vault never rewrites its default policy on upgrade.
-- Keep in step with ../postgres/0021_default_policy_wrapping.sql.
update policies
set policy = '# Allow tokens to look up their own properties
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

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token given in the request body
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}
'
where name = 'default'
  and policy = '# Allow tokens to look up their own properties
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
';
