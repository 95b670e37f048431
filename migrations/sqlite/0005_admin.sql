-- Admin console: TOTP second factor, recovery codes, audit log. Timestamps are Unix seconds.

-- When the session passed the second factor (TOTP or a recovery code); null: not (yet).
alter table sessions add column mfa_at bigint;

create table totp_credentials (
    user_id text primary key references users (id) on delete cascade,
    -- base32 shared secret: it must be readable to verify codes; never shown after enrolment
    secret text not null,
    created_at bigint not null,
    -- null while enrolment waits for the first correct code
    confirmed_at bigint,
    -- the last accepted time step: a code is accepted once (RFC 6238 §5.2)
    last_step bigint not null default 0
);

create table recovery_codes (
    -- SHA-256 (hex) of the normalised code
    code_hash text primary key,
    user_id text not null references users (id) on delete cascade,
    created_at bigint not null,
    used_at bigint
);
create index recovery_codes_user_id on recovery_codes (user_id);

create table audit_log (
    id integer primary key autoincrement,
    at bigint not null,
    -- 'user:<username>', 'client:<client_id>' or 'anonymous'
    actor text not null,
    action text not null,
    target text,
    -- JSON text; never a secret
    detail text,
    ip text,
    user_agent text
);
create index audit_log_at on audit_log (at);
create index audit_log_actor on audit_log (actor);
create index audit_log_action on audit_log (action);
