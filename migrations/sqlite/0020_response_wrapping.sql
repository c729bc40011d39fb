-- Response wrapping (issue 28, item 5): a response asked for with x-vault-wrap-ttl is kept
-- here instead of being returned, sealed under the keyring exactly like a secret version
-- (a fresh data key wrapped by a keyring term; associated data binds the ciphertext to its
-- row). The wrapping token is a bearer credential: only its sha-256 digest is kept. A row
-- is deleted when it is unwrapped or rewrapped (single use) and when found expired.
-- Keep in step with ../postgres/0020_response_wrapping.sql.

create table response_wraps (
    accessor text primary key,             -- public handle of the wrapping token (audit, lookup)
    digest blob not null unique,           -- sha-256 of the wrapping token, never the token
    creation_path text not null,           -- the request path that made it (vault's creation_path)
    creation_time bigint not null,         -- microseconds since the epoch
    ttl bigint not null,                   -- seconds granted (vault's creation_ttl)
    expires_at bigint not null,            -- microseconds; unwrap refuses and purges it after
    wrapped_accessor text not null,        -- accessor of a wrapped token ('' when none)
    format bigint not null,                -- ciphertext layout, as kv_versions.format
    term bigint not null,                  -- keyring term that wraps the data key
    dek_nonce blob not null,
    wrapped_dek blob not null,
    nonce blob not null,
    ciphertext blob not null               -- the wrapped response (json), aes-256-gcm, tag included
);

-- purging expired wrappings scans by expiry
create index response_wraps_expires on response_wraps (expires_at);
