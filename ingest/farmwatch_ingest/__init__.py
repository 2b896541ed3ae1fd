"""farmwatch ingest: MQTT telemetry in, validated readings out to InfluxDB or SQLite."""
