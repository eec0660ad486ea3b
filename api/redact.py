"""Secrets never reach a log line: a filter on uvicorn's loggers rewrites what they print.

Uvicorn logs the full path and query of every request (`uvicorn.access`) and of every websocket
handshake (`uvicorn.error`). Caller-link and location-request tokens are path segments
(`/track/<token>`, `/api/v1/public/track/<token>`, `/locate/<token>`, `/api/v1/public/locate/<token>`); API keys, stream tickets and other credentials may come as query
values. Each is replaced by `[redacted]` before the record is formatted, whatever the handler.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# Query parameters whose value is a credential, whatever the route.
SECRET_PARAMS = ("token", "ticket", "key", "api_key", "access_token", "password", "secret", "session")
_QUERY = re.compile(r"([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&;#\s\"']*", re.IGNORECASE)
# Path segments that are credentials: the caller's link and the public API behind it.
_PATH = re.compile(r"(/(?:track|locate)/)[^/?#\s\"']+")
# An API key anywhere (amb_ + 43 URL-safe characters), e.g. pasted into a path by mistake.
_API_KEY = re.compile(r"amb_[A-Za-z0-9_-]{16,}")
LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn")


def redact(text: str) -> str:
    """`text` with every token-like path segment and query value replaced."""
    text = _QUERY.sub(r"\1" + REDACTED, text)
    text = _PATH.sub(r"\1" + REDACTED, text)
    return _API_KEY.sub("amb_" + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and string arguments (never drops the record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


_FILTER = RedactSecrets()


def install_log_redaction() -> None:
    """Put the filter on uvicorn's loggers (idempotent; a logging config that adds handlers later
    keeps logger filters)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
