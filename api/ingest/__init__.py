"""Ingestion: validation of the uplink records (firmware_bridge.uplink), the one pipeline,
its MQTT subscriber."""
