-- Issue 16: every node caches client rows (client authentication) and forgets one when this
-- table says it changed (removed, secret rotated, edited). id is the cursor nodes poll by
-- (the CLI writes the same file); SQLite's single writer commits ids in order. Rows are
-- purged after a day: by then no cache entry that a change could concern is alive
-- (client_cache_ttl is at most 1h).
create table client_changes (
    -- autoincrement: a rowid is never reused, even after the newest row is purged
    id integer primary key autoincrement,
    client_id text not null,
    changed_at bigint not null
);

create index client_changes_changed_at on client_changes (changed_at);
