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
alter table revocations drop constraint revocations_kind_check;
alter table revocations add constraint revocations_kind_check
    check (kind in ('jti', 'sid', 'family', 'user', 'client', 'kid'));
