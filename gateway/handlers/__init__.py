"""Handlers: the glue between a transport (MQTT, TCP, HTTP) and a pure protocol module."""
