"""Jobs and services: ingestion, CDC, the suggestion consumer, the orders API, the generators, the ELT."""
