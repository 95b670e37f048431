-- OAuth clients (DESIGN §6). Lists (redirect URIs, grant types, scopes) are space-separated
-- text: none of their items can contain a space. Timestamps are Unix seconds.
create table clients (
    client_id text primary key,
    name text not null,
    client_type text not null
        constraint clients_client_type_check check (client_type in ('confidential', 'public')),
    -- SHA-256 (hex) of the client secret; null for public clients
    secret_hash text,
    redirect_uris text not null default '',
    post_logout_redirect_uris text not null default '',
    grant_types text not null default '',
    -- the scopes this client may be granted
    scopes text not null default '',
    -- 1: a first-party client, which may skip consent. An integer, not a boolean: sqlx's Any
    -- driver cannot read SQLite's boolean columns.
    first_party bigint not null default 0
        constraint clients_first_party_check check (first_party in (0, 1)),
    -- seconds; null means the access_token_ttl setting
    access_token_ttl bigint,
    backchannel_logout_uri text,
    created_at bigint not null,
    updated_at bigint not null,
    constraint clients_secret_check
        check ((client_type = 'confidential') = (secret_hash is not null))
);
