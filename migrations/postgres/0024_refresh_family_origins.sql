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
create index refresh_family_origins_jti on refresh_family_origins (jti);
create index refresh_family_origins_kid on refresh_family_origins (kid);
create index refresh_family_origins_origin_family on refresh_family_origins (origin_family);
create index refresh_family_origins_audience on refresh_family_origins (audience);
-- Taking an API from a client (`take_api`) narrows its grants by client_id while it holds the
-- revocation lock, so quickly; the client_api entry looks the origins up by client and audience.
create index refresh_families_client_id on refresh_families (client_id);
create index consents_client_id on consents (client_id);
create index authorization_codes_client_id on authorization_codes (client_id);
create index refresh_family_origins_client_audience on refresh_family_origins (client_id, audience);
-- Families a token exchange started before this migration have no origin rows: no
-- revocation entry would reach them in the store once the list forgot it (and their `xo`
-- origins may lack the audience a refresh now checks). They are revoked here, once (reason
-- 'migration'); their clients exchange again for a new family.
update refresh_families set revoked_at = cast(extract(epoch from now()) as bigint), revoked_reason = 'migration'
where exchange_origins is not null and revoked_at is null;
