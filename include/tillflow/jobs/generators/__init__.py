"""Generator jobs: load the reference data, produce POS scans to Kafka, apply item-master churn."""
