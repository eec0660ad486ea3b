"""`amb-admin`, the operator's command line (cli): schema, imports of places and roads (places), fleet and
device credentials, the broker's users and topic permissions derived from the registry (broker_auth),
accounts, API keys and the quarantine; the services' database role and the owner's partition maintenance (db_role).

May import: every package but gateway, api and device_emulator.
"""
