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
-- iat <= issued_before.
alter table revocations drop constraint revocations_kind_check;
alter table revocations add constraint revocations_kind_check
    check (kind in ('jti', 'sid', 'family', 'user', 'client', 'kid', 'api', 'client_api'));
alter table revocations drop constraint revocations_issued_before_check;
alter table revocations add constraint revocations_issued_before_check
    check ((kind in ('user', 'client', 'api', 'client_api')) = (issued_before is not null));
