-- The revocation list (DESIGN §4). One row revokes every access token it matches until
-- expires_at, after which no token it could match is alive and the row is purged.
-- kind: 'jti' (one token), 'sid' (a login session), 'family' (a refresh-token family),
-- 'user' / 'client' (every token of that sub / client_id issued at or before issued_before).
-- id is the cursor other nodes and resource servers poll by: it only grows and is never reused.
create table revocations (
    id bigserial primary key,
    kind text not null
        constraint revocations_kind_check
        check (kind in ('jti', 'sid', 'family', 'user', 'client')),
    -- the jti, sid, family id, user sub or client id
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

create index revocations_expires_at_idx on revocations (expires_at);
