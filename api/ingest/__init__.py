"""Ingestion: the uplink wire models, the one pipeline, its HTTP routes and MQTT subscriber."""
