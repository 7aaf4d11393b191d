-- Latest state of OLTP table item_categories: the last change per key, unless it was a delete.
{{ cdc_latest_state('item_categories') }}
