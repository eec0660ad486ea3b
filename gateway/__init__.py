"""The gateway: receives tracker fixes on every transport (transports), decodes each protocol
(protocols, handlers), checks the device and the fix (checks, registry, dedupe), stores them durably
(batch_writer through fixes.positions) and relays what committed.

May import: runtime, fixes, messaging, tracking (to run the tracker in-process). Never the API.
"""
