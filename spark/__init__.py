"""tillflow's Spark jobs: a Kafka source for the Python Data Source API and the ingestion jobs."""
