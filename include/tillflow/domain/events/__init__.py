"""The platform's event contracts: parsing and validation of Kafka records into warehouse rows (pure)."""
