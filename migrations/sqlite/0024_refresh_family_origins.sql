-- Issue 12 §2: a family a token exchange started (--exchange-refresh) dies in the store with
-- any token it was made from, not only through the revocation list (whose entries are purged
-- after about an hour). One row per origin hop (the `xo` claim) and audience of that hop's
-- token, written in the transaction that creates the family; a revocation entry of kind
-- jti, kid, family, client, api or client_api revokes, in its own transaction, every family
-- with a hop it names (`Store::insert_revocation`).
create table refresh_family_origins (
    family_id text not null references refresh_families (family_id) on delete cascade,
    hop bigint not null,
    client_id text not null,
    jti text not null,
    kid text,
    origin_family text,
    audience text not null,
    primary key (family_id, hop, audience)
);
create index refresh_family_origins_client_id on refresh_family_origins (client_id);
create index refresh_family_origins_jti on refresh_family_origins (jti);
create index refresh_family_origins_kid on refresh_family_origins (kid);
create index refresh_family_origins_origin_family on refresh_family_origins (origin_family);
create index refresh_family_origins_audience on refresh_family_origins (audience);
