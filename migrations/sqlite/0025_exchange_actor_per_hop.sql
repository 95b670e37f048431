-- Issue 12 §2: the rights an exchanged family lives under are judged at every hop where the
-- grant came to its client from another client's token, and whether that exchange had an
-- actor token is now kept per hop (the `d` of each `xo` origin). Families a token exchange
-- started before have no such record for their foreign hops: read now, they would pass for
-- impersonation (and a refresh without --exchange-impersonate would fail). Those that came
-- from another client's token are revoked here, once (reason 'migration'); their clients
-- exchange again. A client's exchanges of its own tokens need no such record and live on.
update refresh_families set revoked_at = cast(strftime('%s', 'now') as integer), revoked_reason = 'migration'
where exchange_origins is not null and revoked_at is null
and exists (select 1 from refresh_family_origins o
            where o.family_id = refresh_families.family_id
            and o.client_id <> refresh_families.client_id);
