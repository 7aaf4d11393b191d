-- One row per UTC day, channel and product: the small aggregate the all-history product marts are
-- built from, so their cost follows days x products, not scans. Incremental on the interval (its
-- config, replace_interval on sale_date, is in _intermediate__models.yml).
{{ daily_channel_sales('product_id', 'item_id', 'product_id') }}
