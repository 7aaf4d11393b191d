-- Late data: the daily ELT asks which earlier days received rows since they were last built,
-- by arrival time (ingested_at). Rows are appended in arrival order, so a BRIN index finds the
-- recent arrivals by reading only the last block ranges, at almost no cost to ingestion.
create index if not exists pos_scans_ingested_brin on raw.pos_scans using brin (ingested_at);
create index if not exists orders_ingested_brin on raw.orders using brin (ingested_at);
