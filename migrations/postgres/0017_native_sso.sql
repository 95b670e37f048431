-- Issue 12 §3, OpenID Connect Native SSO for Mobile Apps 1.0. Clients of one vendor share a
-- group (null: none); only clients of the same group share a device's sign-in.
alter table clients add column native_sso_group text;

-- The device secrets of §3.2: only their SHA-256 is kept. A secret is bound to the session it
-- was issued in and dies with it (the row goes when the session row goes; an expired session
-- is refused by the join that reads it), and to the grant (refresh family) it came with, so
-- that whatever revokes that grant (code replay, refresh-token reuse, /revoke, an administrator
-- revoking the client's or user's tokens) stops the secret too: every read joins the family and
-- wants it unrevoked. revoked_at: revoked at /revoke.
create table device_secrets (
    secret_hash text primary key,
    sid text not null references sessions (sid) on delete cascade,
    user_id text not null references users (id) on delete cascade,
    client_id text not null references clients (client_id) on delete cascade,
    family_id text not null references refresh_families (family_id) on delete cascade,
    -- the scope the first app was granted: the most a second app may get
    scope text not null,
    created_at bigint not null,
    expires_at bigint not null,
    revoked_at bigint
);

-- At most one secret per app and session: a new code flow with device_sso replaces the app's
-- secret, so that repeating it cannot grow this table.
create unique index device_secrets_sid_client on device_secrets (sid, client_id);
-- Deleting a user, client or family cascades here: without these, each would scan the table.
create index device_secrets_user on device_secrets (user_id);
create index device_secrets_client on device_secrets (client_id);
create index device_secrets_family on device_secrets (family_id);
