-- Users, login sessions and login throttling. Timestamps are Unix seconds (BIGINT) so that the
-- same queries run on PostgreSQL and SQLite.
create table users (
    id text primary key,
    username text not null,
    -- lowercased, NFC-normalised username: uniqueness is case-insensitive
    username_key text not null constraint users_username_key unique,
    email text,
    display_name text,
    password_hash text not null,
    -- space-separated roles, e.g. 'admin'
    roles text not null default '',
    -- 0 or 1: flags are integers so that one query reads them on both backends
    disabled bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null,
    password_changed_at bigint not null
);

create table sessions (
    -- SHA-256 of the cookie secret; the secret itself is never stored
    id_hash text primary key,
    -- public session id, the `sid` claim of tokens issued in this session
    sid text not null constraint sessions_sid_key unique,
    user_id text not null references users (id) on delete cascade,
    auth_time bigint not null,
    amr text not null default 'pwd',
    created_at bigint not null,
    last_seen_at bigint not null,
    expires_at bigint not null,
    ip text,
    user_agent text
);
create index sessions_user_id on sessions (user_id);
create index sessions_expires_at on sessions (expires_at);

create table login_throttle (
    -- 'user:<username_key>' or 'ip:<address>'
    key text primary key,
    failures bigint not null,
    window_start bigint not null,
    last_failure bigint not null
);
