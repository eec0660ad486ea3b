"""Tracker protocols: per protocol, pure framing, decoding and reply encoding (bytes in, fixes out)."""
