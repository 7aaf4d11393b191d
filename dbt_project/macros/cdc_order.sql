{#- The position of a CDC change among its key's changes (ascending), for an order by after it:
    the LSN, or for a record without one the highest LSN of the key's records delivered before
    it on Kafka (-1 when none was), so it stays where the connector emitted it. -#}
{% macro cdc_order_lsn() -%}
coalesce(
    source_lsn,
    max(source_lsn) over (
        partition by source_table, entity_key
        order by kafka_partition, kafka_offset
        rows between unbounded preceding and current row
    ),
    -1
)
{%- endmacro %}
