"""Tracking core: the domain model, PostGIS persistence and queries shared by the gateway and the API."""
