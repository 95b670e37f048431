-- Issue 12 §1: APIs (resource servers) that access tokens can be for (RFC 8707), and which
-- clients may ask for tokens for them ('use'), serve them ('serve': may introspect tokens whose
-- aud names the API), or exchange into them ('exchange': reserved for token exchange, RFC 8693).
create table apis (
    -- an absolute URI without a fragment (RFC 8707 §2): the `aud` of its tokens
    identifier text primary key,
    name text,
    -- space-separated: the scopes the API defines
    scopes text not null default '',
    -- seconds; null means the client's or the server's lifetime
    access_token_ttl bigint,
    -- null means the client's algorithm
    signing_alg text
        constraint apis_signing_alg_check check (signing_alg in ('RS256', 'ES256', 'EdDSA')),
    created_at bigint not null,
    updated_at bigint not null
);

create table client_apis (
    client_id text not null references clients (client_id) on delete cascade,
    api text not null references apis (identifier),
    role text not null
        constraint client_apis_role_check check (role in ('use', 'serve', 'exchange')),
    primary key (client_id, api, role)
);
create index client_apis_api on client_apis (api);

-- The resources granted at /authorize (RFC 8707 §2.1), space-separated, which the token
-- requests of the code and of its refresh family may narrow to (§2.2). Empty: none.
alter table authorization_codes add column resources text not null default '';
alter table refresh_families add column resources text not null default '';

-- The resources the user approved for the client, space-separated like scope: consent is to
-- scopes at these APIs, so a request naming another API asks the user again.
alter table consents add column resources text not null default '';
