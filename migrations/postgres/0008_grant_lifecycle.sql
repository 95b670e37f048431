-- Grants that end with what they came from (issue 11).

-- RFC 6749 §4.1.3: /token requires redirect_uri only when the authorization request sent one.
-- 0 or 1; codes issued before this migration all had one.
alter table authorization_codes add column redirect_uri_sent bigint not null default 1;

-- The refresh grace window returns the same successor to a token used twice within it: the
-- successor, encrypted with a key derived from the used token (which is stored only as a hash),
-- so the database alone never reveals a live refresh token.
alter table refresh_tokens add column successor_sealed text;
-- The purge forgets sealed successors once the grace window is over; this finds the few left.
create index refresh_tokens_sealed_used_at on refresh_tokens (used_at)
    where successor_sealed is not null;

-- A revocation of one token, session or family is written once, however often it is asked for
-- (code replays, refresh reuse, /revoke of the same token): replays cannot grow the list.
-- Of existing duplicates, the one that lives longest stays.
delete from revocations
where issued_before is null
  and exists (select 1 from revocations o
              where o.kind = revocations.kind and o.target = revocations.target
                and o.issued_before is null
                and (o.expires_at > revocations.expires_at
                     or (o.expires_at = revocations.expires_at and o.id > revocations.id)));
create unique index revocations_once on revocations (kind, target) where issued_before is null;
