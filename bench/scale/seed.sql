-- bench/scale.sh: state a big deployment leaves behind, written straight into a database
-- Tessera has migrated (never through the HTTP API). psql variables (-v):
--   now (Unix seconds), hash (an argon2id hash every seeded user shares), and the row counts
--   users, clients, sessions, families (4 refresh tokens each), codes, revocations (live),
--   expired_revocations, audit, throttle, totp, consents.
-- Ids are derived from row numbers (md5 as text or as a UUID), so rows can name each other
-- without look-ups: user u is md5('u'||u)::uuid, session s has sid md5('sid'||s)::uuid, family
-- f is md5('f'||f)::uuid, client c is md5('c'||c). Hashes are 64 hex digits like SHA-256.
\set ON_ERROR_STOP on
\timing off
-- The seeded rows are consistent by construction: foreign-key triggers are skipped (superuser).
set session_replication_role = replica;
set synchronous_commit = off;
set work_mem = '256MB';
set maintenance_work_mem = '512MB';

-- Secondary (non-unique) indexes are dropped for the load and built again after it, from
-- their own definitions: one sort per index instead of millions of random insertions.
create temporary table seed_indexes as
select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as def
from pg_index i join pg_class c on c.oid = i.indrelid
where c.relnamespace = current_schema()::regnamespace and not i.indisunique
  and c.relname in ('users', 'sessions', 'session_clients', 'refresh_families', 'refresh_tokens',
                    'authorization_codes', 'revocations', 'audit_log', 'login_throttle',
                    'consents', 'totp_credentials');
do $$ declare r record; begin
  for r in select name from seed_indexes loop execute 'drop index ' || r.name; end loop;
end $$;

\echo seeding users
insert into users (id, username, username_key, email, display_name, password_hash, roles,
                   disabled, created_at, updated_at, password_changed_at)
select md5('u' || u)::uuid::text, 'user' || u, 'user' || u, 'user' || u || '@example.com',
       'User ' || u, :'hash', case when u % 5000 = 0 then 'admin' else '' end,
       case when u % 500 = 0 then 1 else 0 end,
       :now - 400 * 86400 + u % (390 * 86400), :now - u % (30 * 86400),
       :now - 400 * 86400 + u % (390 * 86400)
from generate_series(1, :users) u;

\echo seeding clients
insert into clients (client_id, name, client_type, secret_hash, redirect_uris, grant_types,
                     scopes, first_party, created_at, updated_at, signing_alg, resource_server)
select md5('c' || c), 'App ' || c, case when c % 4 = 0 then 'public' else 'confidential' end,
       case when c % 4 = 0 then null else md5('cs' || c) || md5('CS' || c) end,
       'https://app' || c || '.example.com/cb',
       case when c % 4 = 0 then 'authorization_code refresh_token'
            when c % 10 = 1 then 'client_credentials'
            else 'authorization_code refresh_token client_credentials' end,
       'openid profile email offline_access', (c % 3 = 0)::int, :now - 300 * 86400 + c,
       :now - 300 * 86400 + c, case when c % 2 = 0 then 'RS256' else 'EdDSA' end,
       (c % 50 = 1)::int
from generate_series(1, :clients) c;

-- Sessions: one in ten live (signed in within the last 11 h, seen within the idle window),
-- the rest past their absolute expiry (12 h) at some time in the last 30 days.
\echo seeding sessions
insert into sessions (id_hash, sid, user_id, auth_time, amr, created_at, last_seen_at,
                      expires_at, ip, user_agent, mfa_required, mfa_at)
select md5('s' || s) || md5('S' || s), md5('sid' || s)::uuid::text,
       md5('u' || ((s::bigint * 7919) % :users + 1))::uuid::text, t, 'pwd', t,
       case when s % 10 = 0 then greatest(t, :now - s % 7000) else t + s % 7200 end,
       t + 43200, '10.' || s % 250 || '.' || (s / 250) % 250 || '.' || (s / 62500) % 250,
       'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
       0, null
from (select s, case when s % 10 = 0 then :now - 60 - s % 39000
                     else :now - 43200 - (s::bigint * 37) % (30 * 86400) end as t
      from generate_series(1, :sessions) s) x;

\echo seeding session_clients
insert into session_clients (sid, client_id, created_at)
select md5('sid' || s)::uuid::text, md5('c' || ((s * 31) % :clients + 1)),
       case when s % 10 = 0 then :now - 60 - s % 39000
            else :now - 43200 - (s::bigint * 37) % (30 * 86400) end
from generate_series(1, :sessions) s;

-- Refresh-token families, each a chain of 4 tokens (3 used, the last one unused). By f % 20:
-- 0-11 past their absolute expiry (30 d), 12-13 revoked (most more than an hour ago), 14-18
-- live with a live last token, 19 live but its last token idle-expired (7 d).
\echo seeding refresh_families and refresh_tokens
create temporary table fam as
select f, md5('f' || f)::uuid::text as family_id, created, last, created + 30 * 86400 as expires,
       case when f % 20 in (12, 13) then least(:now, last + 600) end as revoked
from (select f,
        case when f % 20 < 12 then :now - 30 * 86400 - (f::bigint * 37) % (60 * 86400)
             when f % 20 < 14 then :now - 86400 - (f::bigint * 37) % (20 * 86400)
             when f % 20 < 19 then :now - 600 - (f::bigint * 37) % (25 * 86400)
             else :now - 10 * 86400 - (f::bigint * 37) % (15 * 86400) end as created,
        f::bigint * 11 as r
      from generate_series(1, :families) f) x,
lateral (select case when f % 20 < 12 then created + r % (20 * 86400)
                     when f % 20 < 14 then created + r % 86400
                     when f % 20 < 19 then greatest(created, :now - r % (6 * 86400))
                     else created + r % (2 * 86400) end as last) l;

begin;
insert into refresh_families (family_id, client_id, user_id, sid, scope, auth_time, amr,
                              created_at, expires_at, revoked_at, revoked_reason)
select family_id,
       md5('c' || case when f % 10 < 6 then f % 5 + 1 else (f * 31) % :clients + 1 end),
       md5('u' || ((f * 7) % :users + 1))::uuid::text,
       md5('sid' || ((f * 13) % :sessions + 1))::uuid::text, 'openid profile offline_access',
       created, 'pwd', created, expires, revoked,
       case when revoked is not null then 'logout' end
from fam;

insert into refresh_tokens (token_hash, family_id, created_at, idle_expires_at, used_at,
                            successor_sealed)
select md5('t' || f || '.' || k) || md5('T' || f || '.' || k), family_id, c,
       least(c + 7 * 86400, expires),
       case when k < 3 then created + (last - created) * (k + 1) / 3 end,
       case when k = 2 and f % 1000 = 14 then 'sealed-placeholder' end
from fam, generate_series(0, 3) k,
lateral (select created + (last - created) * k / 3 as c) t;
commit;

-- Authorization codes of the last 10 minutes (a 60 s lifetime, purged every 5 minutes), nine
-- in ten redeemed.
\echo seeding authorization_codes
insert into authorization_codes (code_hash, client_id, user_id, sid, redirect_uri, scope, nonce,
                                 code_challenge, auth_time, amr, created_at, expires_at,
                                 used_at, family_id, redirect_uri_sent)
select md5('a' || a) || md5('A' || a), md5('c' || ((a * 31) % :clients + 1)),
       md5('u' || ((a * 7) % :users + 1))::uuid::text,
       md5('sid' || ((a * 13) % :sessions + 1))::uuid::text,
       'https://app' || ((a * 31) % :clients + 1) || '.example.com/cb',
       'openid profile offline_access', 'n' || a, md5('cc' || a) || 'abcdefghijk', t - 30, 'pwd',
       t, t + 60, case when a % 10 <> 0 then t + 1 end,
       case when a % 10 <> 0 then md5('af' || a)::uuid::text end, 1
from (select a, :now - a % 600 as t from generate_series(1, :codes) a) x;

-- The revocation list: expired entries (not purged yet) first, then the live ones, oldest
-- first, as ids were handed out. By i % 20: 0-9 a session (logout), 10-14 a family (refresh
-- reuse), 15-18 one access token (client request; entry lives until the token's exp: 5 min
-- for the expired ones, 1 h, a client's access_token_ttl, for the live ones, so that every
-- live entry is still live), 19 a user (password changed). The live ones were written within
-- the last 40 minutes, so that all of them are still live when the run ends.
\echo seeding revocations
insert into revocations (kind, target, issued_before, revoked_at, expires_at, reason)
select kind, target, case when kind = 'user' then revoked end, revoked,
       case when kind = 'jti' and i <= :expired_revocations then revoked + 300
            when kind in ('jti', 'user') then revoked + 3600 else revoked + 3660 end,
       case kind when 'sid' then 'logout' when 'family' then 'refresh_reuse'
                 when 'jti' then 'client_request' else 'password_changed' end
from (select i,
        case when i % 20 < 10 then 'sid' when i % 20 < 15 then 'family'
             when i % 20 < 19 then 'jti' else 'user' end as kind,
        case when i % 20 < 10 then md5('sid' || i)::uuid::text
             when i % 20 < 15 then md5('f' || i)::uuid::text
             when i % 20 < 19 then md5('j' || i)::uuid::text
             else md5('u' || (i % :users + 1))::uuid::text end as target,
        case when i <= :expired_revocations
             then :now - 3700 - (:expired_revocations - i)::bigint * 3600 / :expired_revocations
             else :now - 2400 + (i - :expired_revocations)::bigint * 2390 / :revocations end
          as revoked
      from generate_series(1, :expired_revocations + :revocations) i) x
order by i;

-- The audit log: 100 days of sign-ins and the rest (the retention is 90 days).
\echo seeding audit_log
insert into audit_log (at, actor, action, target, detail, ip, user_agent, count)
select :now - 100 * 86400 + (i::bigint * 100 * 86400) / :audit,
       case when i % 10 = 7 then 'anonymous' else 'user:user' || ((i * 7) % :users + 1) end,
       case when i % 10 < 7 then 'login.succeeded' when i % 10 = 7 then 'login.failed'
            when i % 10 = 8 then 'logout' else 'tokens.issued' end,
       case when i % 10 = 7 then 'user' || i % 1000 else md5('u' || ((i * 7) % :users + 1))::uuid::text end,
       case when i % 10 = 9 then '{"authorization_code":3,"refresh_token":12}' end,
       '10.' || i % 250 || '.' || (i / 250) % 250 || '.1', 'Mozilla/5.0 (X11; Linux x86_64)', 1
from generate_series(1, :audit) i;

\echo seeding login_throttle, totp_credentials, consents
insert into login_throttle (key, failures, window_start, last_failure)
select case when i % 2 = 0 then 'user:user' || i else 'ip:10.9.' || i % 250 || '.' || i / 250 end,
       1 + i % 7, :now - i % 3600, :now - i % 1800
from generate_series(1, :throttle) i;

insert into totp_credentials (user_id, secret, created_at, confirmed_at, last_step)
select md5('u' || (u * 97 % :users + 1))::uuid::text, 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
       :now - 86400 * 30, :now - 86400 * 30, (:now - 86400) / 30
from generate_series(1, :totp) u
on conflict do nothing;

insert into consents (user_id, client_id, scope, granted_at)
select md5('u' || ((i * 13) % :users + 1))::uuid::text, md5('c' || ((i * 31) % :clients + 1)),
       'openid profile email', :now - i % (200 * 86400)
from generate_series(1, :consents) i
on conflict do nothing;

\echo rebuilding secondary indexes
do $$ declare r record; begin
  for r in select def from seed_indexes loop execute r.def; end loop;
end $$;

reset session_replication_role;
\echo analyze
analyze;
