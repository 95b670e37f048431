-- Issue 13: the life of each signing key, recorded once for every node. The private keys stay
-- files in the keys directory (shared by the nodes); this table says what each one does, so
-- that every node derives the same state from the same timestamps and its clock, never from
-- when it started. A key is next (published, signs nothing) until active_at, active (signs for
-- its algorithm) until retiring_at, retiring (published, signs nothing) until retire_after,
-- then retired (gone from JWKS); revoked_at withdraws it at once.
create table signing_keys (
    -- RFC 7638 thumbprint of the public key
    kid text primary key,
    alg text not null
        constraint signing_keys_alg_check
        check (alg in ('RS256', 'ES256', 'EdDSA')),
    -- the file's name in the keys directory
    file text not null,
    created_at bigint not null,
    published_at bigint not null,
    -- when it signs (planned or past); null: never scheduled to sign
    active_at bigint,
    -- when a successor took over (planned or past)
    retiring_at bigint,
    -- when it leaves JWKS: everything it signed has expired and caches have let go
    retire_after bigint,
    revoked_at bigint
);

-- A key revocation revokes every token its key signed: kind 'kid', target the key's kid.
-- SQLite cannot change a check constraint, so the table is rebuilt, ids and all.
create table revocations_new (
    -- autoincrement: a rowid is never reused, even after the newest row is purged
    id integer primary key autoincrement,
    kind text not null
        constraint revocations_kind_check
        check (kind in ('jti', 'sid', 'family', 'user', 'client', 'kid')),
    -- the jti, sid, family id, user sub, client id or kid
    target text not null,
    -- 'user' and 'client' only: tokens with iat <= issued_before are revoked
    issued_before bigint,
    revoked_at bigint not null,
    expires_at bigint not null,
    -- a short code (e.g. client_request, logout, refresh_reuse): resource servers see it
    reason text not null,
    constraint revocations_issued_before_check
        check ((kind in ('user', 'client')) = (issued_before is not null))
);
insert into revocations_new (id, kind, target, issued_before, revoked_at, expires_at, reason)
    select id, kind, target, issued_before, revoked_at, expires_at, reason from revocations;
-- Keep the high-water mark of ids: a purged newest id must not be handed out again, or a
-- cursor that already passed it would skip the new row.
delete from sqlite_sequence where name = 'revocations_new';
insert into sqlite_sequence (name, seq)
    select 'revocations_new', seq from sqlite_sequence where name = 'revocations';
drop table revocations;
alter table revocations_new rename to revocations;
create index revocations_expires_at_idx on revocations (expires_at);
create unique index revocations_once on revocations (kind, target) where issued_before is null;
