-- Issue 16: every node caches client rows (client authentication) and forgets one when this
-- table says it changed (removed, secret rotated, edited). id is the cursor nodes poll by
-- after a lost NOTIFY; ids commit in order (writers take an advisory lock), so a cursor never
-- steps over a change committed late. Rows are purged after a day: by then no cache entry
-- that a change could concern is alive (client_cache_ttl is at most 1h).
create table client_changes (
    id bigserial primary key,
    client_id text not null,
    changed_at bigint not null
);

create index client_changes_changed_at on client_changes (changed_at);
