"""API: REST and websocket service for dispatchers and hospitals (FastAPI)."""
