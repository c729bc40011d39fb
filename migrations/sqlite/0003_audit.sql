-- Audit log (DESIGN.md section 5). Keep in step with ../postgres/0003_audit.sql.
-- Events are inserted unsealed; the sealer assigns seq, prev_hash and hash in seal order.

create table audit_events (
    id integer primary key autoincrement,                -- insertion order, for paging
    event_id text not null unique,
    time bigint not null,                                -- microseconds since the epoch, utc
    request_id text not null,
    actor_name text not null,
    actor_accessor text not null,                        -- token accessor, never the token
    issuer text not null,
    client_id text not null,
    remote_addr text not null,
    user_agent text not null,
    operation text not null,
    mount text not null,
    path text not null,
    version bigint,
    outcome text not null,                               -- ok denied not_found invalid error
    status bigint not null,
    seq bigint unique,                                   -- null until sealed
    prev_hash blob,
    hash blob,
    sealed_at bigint
);
create index audit_events_unsealed on audit_events (id) where seq is null;
create index audit_events_time on audit_events (time);

-- where verification starts after retention purged the oldest sealed events
create table audit_checkpoints (
    seq bigint primary key,
    hash blob not null,
    purged bigint not null,
    created_at bigint not null
);
