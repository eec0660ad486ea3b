"""Emulated ambulance fleet: vehicles driving over Da Nang roads and publishing GPS fixes over MQTT.

A device, not a part of the server: imports nothing of the project, and works against any server that
speaks the same topics.
"""
