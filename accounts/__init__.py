"""Who may do what: people's accounts and password hashes (users), API keys, roles and the caller
(access), browser sessions (sessions), the public endpoints' rate limits (throttle) and the caller's
tracking links (caller_links).

May import: runtime, fixes, roads, tracking.
"""
