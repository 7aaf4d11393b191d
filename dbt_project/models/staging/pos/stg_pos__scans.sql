-- One row per scan_id with its voids resolved over all of raw (see resolve_scan_voids).
{{ resolve_scan_voids(ref('stg_pos__scan_events')) }}
