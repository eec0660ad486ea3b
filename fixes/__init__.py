"""Fixes and their durable storage: the fix model every transport decodes into (model), small geodesy
(geodesy), the one-transaction writer of `positions` and its daily partitions (positions), and the
quarantine of what could not be stored or evaluated (quarantine). The gateway writes through it; the
tracking core reads what it wrote.

May import: runtime.
"""
