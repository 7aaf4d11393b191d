-- Latest state of OLTP table stores: the last change per key, unless it was a delete.
{{ cdc_latest_state('stores') }}
