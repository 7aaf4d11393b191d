-- One row per UTC day, channel and store: the small aggregate the all-history store marts are
-- built from, so their cost follows days x stores, not scans. Incremental on the interval (its
-- config, replace_interval on sale_date, is in _intermediate__models.yml).
{{ daily_channel_sales('store_id', 'store_id', 'store_id') }}
