-- Issue 12 §2, RFC 8693 token exchange: what a client may do beyond delegation. 1: it may get
-- a refresh token with an exchanged access token (--exchange-refresh); it may exchange a
-- token it serves without an actor token, i.e. impersonate the user (--exchange-impersonate).
alter table clients add column exchange_refresh bigint not null default 0
    constraint clients_exchange_refresh_check check (exchange_refresh in (0, 1));
alter table clients add column exchange_impersonate bigint not null default 0
    constraint clients_exchange_impersonate_check check (exchange_impersonate in (0, 1));

-- A family started by a token exchange with --exchange-refresh: the tokens it was made from
-- (JSON, the access tokens' `xo` claim), so that its refresh tokens and their access tokens
-- die with the subject's grant. Null for every other family.
alter table refresh_families add column exchange_origins text;
