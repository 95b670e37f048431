-- Issue 16 (cost as state grows): two look-ups that were fine on a small database and are
-- not on a big one (bench/scale.sh: 1 M users, 5 M refresh tokens, 2 M audit entries).

-- The failed-login fold (count_audit_since, bump_folded_audit) asks for one actor's entries
-- of one action since a minute ago. sqlx prepares it, and once the last minute holds some
-- traffic (a few thousand entries of any kind), PostgreSQL's custom plan (audit_log_at) is
-- estimated dearer than the generic one, which it then caches: audit_log_actor over every
-- 'anonymous' entry kept (440 ms per failed login with 200 k of them in 2 M entries, where the
-- custom plan took 0.2 ms). With the three columns in one index both plans read only the rows
-- asked for. It also serves every look-up by actor alone, so it replaces audit_log_actor.
create index audit_log_actor_action_at on audit_log (actor, action, at);
drop index audit_log_actor;

-- The purge of unused idle-expired refresh tokens (purge_idle_refresh_tokens_batch) walked
-- refresh_tokens_idle_expires_at over every used token too (used tokens stay with their live
-- family), again for every batch. Only unused tokens are ever looked up by idle expiry, so the
-- index holds only them, which also makes it a fraction of the size.
create index refresh_tokens_unused_idle_expires_at on refresh_tokens (idle_expires_at)
    where used_at is null;
drop index refresh_tokens_idle_expires_at;
