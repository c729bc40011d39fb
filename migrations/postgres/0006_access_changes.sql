-- A marker that changes with every change to tokens or policies, so that each server's auth
-- cache can check with one small read that nothing it holds went stale (doc/access.md,
-- "Auth cache"), instead of reading every cached token again. Triggers keep it, so a change
-- made in SQL behind the servers' backs moves it too. A random value rather than a counter:
-- a database restored from a backup can never repeat a marker a server has already seen.
-- Token inserts are left out: a new token is in no cache yet.
-- Keep in step with ../sqlite/0006_access_changes.sql.
create table access_changes (
    id smallint primary key check (id = 1),
    marker text not null
);
insert into access_changes (id, marker) values (1, gen_random_uuid()::text);

create function note_access_change() returns trigger language plpgsql as $$
begin
    update access_changes set marker = gen_random_uuid()::text where id = 1;
    return null;
end
$$;

-- Deferred to commit, so a transaction takes the marker's row lock after all its other row
-- locks and waits for nothing once it holds it: two revocations that overlap (a parent's
-- tree and one of its children, each locking its own row first) cannot deadlock on it.
create constraint trigger tokens_changed after update or delete on tokens
    deferrable initially deferred
    for each row execute function note_access_change();
create constraint trigger policies_changed after insert or update or delete on policies
    deferrable initially deferred
    for each row execute function note_access_change();
create trigger tokens_truncated after truncate on tokens
    for each statement execute function note_access_change();
create trigger policies_truncated after truncate on policies
    for each statement execute function note_access_change();
