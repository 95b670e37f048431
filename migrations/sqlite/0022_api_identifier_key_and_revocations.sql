-- Issue 12 review, leftovers. 1) Two API identifiers that differ only in case or a final slash
-- look alike to people and to careless resource servers: the folded form (lowercase, final
-- slashes trimmed, as `Resource::folded` computes it) is unique, so that a burst of look-alikes
-- registers exactly one, whichever node or CLI inserts them.
alter table apis add column identifier_key text not null default '';
update apis set identifier_key = rtrim(lower(identifier), '/');
create unique index apis_identifier_key on apis (identifier_key);

-- 2) Removing an API, or taking it from a client, ends the access tokens already issued for it:
-- kind 'api' (target the API identifier: tokens whose aud names it) and 'client_api' (target
-- "CLIENT_ID API": tokens of that client whose aud names that API), both for tokens with
-- iat <= issued_before. SQLite cannot change a check constraint, so the table is rebuilt, ids
-- and all (as in 0015).
create table revocations_new (
    -- autoincrement: a rowid is never reused, even after the newest row is purged
    id integer primary key autoincrement,
    kind text not null
        constraint revocations_kind_check
        check (kind in ('jti', 'sid', 'family', 'user', 'client', 'kid', 'api', 'client_api')),
    -- the jti, sid, family id, user sub, client id, kid, API identifier or "CLIENT_ID API"
    target text not null,
    -- 'user', 'client', 'api' and 'client_api' only: tokens with iat <= issued_before are revoked
    issued_before bigint,
    revoked_at bigint not null,
    expires_at bigint not null,
    -- a short code (e.g. client_request, logout, refresh_reuse): resource servers see it
    reason text not null,
    constraint revocations_issued_before_check
        check ((kind in ('user', 'client', 'api', 'client_api')) = (issued_before is not null))
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
