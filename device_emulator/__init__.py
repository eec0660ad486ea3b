"""Emulated ambulance fleet: vehicles driving over Da Nang roads and publishing GPS fixes over MQTT."""
