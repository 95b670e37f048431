-- Console charts (issue 15): counts per UTC hour, summed over every node. Each node adds its
-- counts since its previous flush (`count = count + excluded.count`), so the table grows with
-- hours × kinds × clients, never with traffic. Rows older than the audit retention are purged.
create table activity_hourly (
    -- Unix seconds of the hour's start (a multiple of 3600)
    hour bigint not null,
    -- 'token:<grant>', 'login:succeeded|failed|throttled', 'gauge:sessions|revocations'
    kind text not null,
    -- the client a token went to; '' for sign-ins and gauges
    client_id text not null default '',
    -- a sum for tokens and sign-ins; for gauges the value sampled in that hour
    count bigint not null,
    primary key (hour, kind, client_id)
);
-- A client's page reads its own hours.
create index activity_hourly_client on activity_hourly (client_id, hour);
