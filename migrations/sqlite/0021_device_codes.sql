-- RFC 8628: device authorization requests. Both codes are stored only as SHA-256. A row is
-- pending until the user approves or denies it on /device, then redeemed once at /token.
-- interval_secs grows by 5 at every slow_down (§3.5) and last_polled_at is the last poll, both
-- here so that every node sees them.
create table device_codes (
    device_code_hash text primary key,
    user_code_hash text not null,
    client_id text not null references clients (client_id) on delete cascade,
    scope text not null,
    resources text not null default '',
    created_at bigint not null,
    expires_at bigint not null,
    interval_secs bigint not null,
    last_polled_at bigint,
    state text not null default 'pending'
        constraint device_codes_state_check
        check (state in ('pending', 'approved', 'denied', 'redeemed')),
    -- set by the decision on /device
    user_id text,
    sid text,
    auth_time bigint,
    amr text,
    decided_at bigint,
    -- The requesting address, coarse: an IPv4 address or an IPv6 /64 (the per-address bound
    -- of live requests); the confirm page shows only its /24 or /48 (§5.4). Deleted with the
    -- row at expiry.
    requester text not null default ''
);
-- A user code names one row: a new code that collides is drawn again.
create unique index device_codes_user_code on device_codes (user_code_hash);
-- The live codes of a client (the per-client bound, and the per-address one) and the purge.
create index device_codes_client on device_codes (client_id, expires_at);
create index device_codes_requester on device_codes (client_id, requester, expires_at);
create index device_codes_expires_at on device_codes (expires_at);
