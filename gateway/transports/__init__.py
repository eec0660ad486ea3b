"""Transports: MQTT, TCP, UDP and HTTP servers that feed decoded fixes into the common ingest."""
