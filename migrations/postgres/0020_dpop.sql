-- Issue 14, DPoP (RFC 9449).

-- A client registered to require DPoP: every token request must carry a proof (§5).
alter table clients add column require_dpop bigint not null default 0
    constraint clients_require_dpop_check check (require_dpop in (0, 1));

-- §10: the `dpop_jkt` of the authorization request; redeeming the code needs a proof of
-- that key. Null: the code is not bound.
alter table authorization_codes add column dpop_jkt text;

-- §5: the key (RFC 7638 SHA-256 thumbprint) a family's refresh tokens are bound to. Null:
-- not bound (a confidential client that sent no proof).
alter table refresh_families add column dpop_jkt text;

-- §11.1: the `jti` of every DPoP proof accepted, as SHA-256 of (thumbprint, jti), until the
-- proof could no longer pass the `iat` check. The insert that finds the key taken is the
-- atomic "seen before" on every node. Rows are written only after the proof verified, and
-- expire within minutes (the purge job deletes them).
create table dpop_proofs (
    proof_hash text primary key,
    expires_at bigint not null
);
create index dpop_proofs_expires on dpop_proofs (expires_at);

-- §8: the secret DPoP nonces are derived from, shared by every node (one row).
create table dpop_nonce_secret (
    id bigint primary key constraint dpop_nonce_secret_one check (id = 1),
    secret text not null
);
