-- Per-client JWS algorithm of access and ID tokens (OIDC Registration
-- id_token_signed_response_alg). Existing clients keep RS256.
alter table clients add column signing_alg text not null default 'RS256'
    constraint clients_signing_alg_check check (signing_alg in ('RS256', 'ES256', 'EdDSA'));
