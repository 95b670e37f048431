-- Authorization codes, refresh-token families and tokens, remembered consent, and which clients
-- took part in each login session (for logout). Secrets are stored only as SHA-256.
create table authorization_codes (
    code_hash text primary key,
    client_id text not null,
    user_id text not null,
    sid text not null,
    redirect_uri text not null,
    scope text not null,
    nonce text,
    code_challenge text,
    auth_time bigint not null,
    amr text not null,
    created_at bigint not null,
    expires_at bigint not null,
    -- set by the first redemption; a second one finds it set and revokes that family
    used_at bigint,
    family_id text
);
create index authorization_codes_expires_at on authorization_codes (expires_at);

create table refresh_families (
    family_id text primary key,
    client_id text not null,
    user_id text not null,
    sid text,
    scope text not null,
    auth_time bigint not null,
    amr text not null,
    created_at bigint not null,
    -- absolute expiry of every token of the family
    expires_at bigint not null,
    revoked_at bigint,
    revoked_reason text
);
create index refresh_families_sid on refresh_families (sid);
create index refresh_families_user_id on refresh_families (user_id);

create table refresh_tokens (
    token_hash text primary key,
    family_id text not null references refresh_families (family_id) on delete cascade,
    created_at bigint not null,
    idle_expires_at bigint not null,
    used_at bigint
);
create index refresh_tokens_family_id on refresh_tokens (family_id);

create table consents (
    user_id text not null references users (id) on delete cascade,
    client_id text not null,
    scope text not null,
    granted_at bigint not null,
    primary key (user_id, client_id)
);

create table session_clients (
    sid text not null,
    client_id text not null,
    created_at bigint not null,
    primary key (sid, client_id)
);
