"""The API: REST, websockets and the web apps (static) for dispatchers, hospitals, callers and crews
(FastAPI).

May import: runtime, fixes, roads, tracking, accounts, messaging. Never the gateway.
"""
