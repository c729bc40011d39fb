-- A marker that changes with every change to tokens or policies, so that each server's auth
-- cache can check with one small read that nothing it holds went stale (doc/access.md,
-- "Auth cache"). Keep in step with ../postgres/0006_access_changes.sql.
create table access_changes (
    id integer primary key check (id = 1),
    marker text not null
);
insert into access_changes (id, marker) values (1, lower(hex(randomblob(16))));

create trigger tokens_updated after update on tokens
begin
    update access_changes set marker = lower(hex(randomblob(16))) where id = 1;
end;
create trigger tokens_deleted after delete on tokens
begin
    update access_changes set marker = lower(hex(randomblob(16))) where id = 1;
end;
create trigger policies_inserted after insert on policies
begin
    update access_changes set marker = lower(hex(randomblob(16))) where id = 1;
end;
create trigger policies_updated after update on policies
begin
    update access_changes set marker = lower(hex(randomblob(16))) where id = 1;
end;
create trigger policies_deleted after delete on policies
begin
    update access_changes set marker = lower(hex(randomblob(16))) where id = 1;
end;
