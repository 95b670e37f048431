-- Each rotation forgets the sealed successor of the family's previous token. Through the
-- family_id index that visited every token the family ever had (thousands for a session kept
-- alive for weeks) and grew the cost of a refresh with the family's age. At most one token
-- per family holds a sealed successor; this index finds it directly.
create index refresh_tokens_family_sealed on refresh_tokens (family_id)
    where successor_sealed is not null;
