-- Latest state of OLTP table item_master: the last change per key, unless it was a delete.
{{ cdc_latest_state('item_master') }}
