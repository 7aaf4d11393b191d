-- Generator bookkeeping: the seeded reference load and each item-master churn or tier-change slot
-- are applied at most once, in the same transaction as their changes, so re-running a bootstrap or
-- a churn task (a retry, a backfill) changes nothing the second time.
create table if not exists generator_runs (
    kind        text not null check (kind in ('reference', 'item_churn', 'tier_changes')),
    slot        timestamptz not null,   -- the UTC hour the run stands for (reference: its valid-from)
    details     jsonb not null,
    applied_at  timestamptz not null default now(),
    primary key (kind, slot)
);
