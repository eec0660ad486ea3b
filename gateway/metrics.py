"""Prometheus metrics of the gateway."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()

MESSAGES = Counter("amb_gateway_messages_total", "Messages (MQTT publishes, frames) received.", ["transport"])
FIXES_RECEIVED = Counter("amb_gateway_fixes_received_total", "Fixes decoded from messages.", ["transport"])
FIXES_STORED = Counter("amb_gateway_fixes_stored_total", "Fixes newly committed to PostgreSQL.", ["protocol"])
REFUSED = Counter("amb_gateway_refused_total", "Refused messages and fixes, by reason.", ["reason"])
REFUSED_BY_PROTOCOL = Counter(
    "amb_gateway_protocol_refused_total",
    "Refused messages and fixes, by protocol and reason.",
    ["protocol", "reason"],
)
BATCH_SECONDS = Histogram(
    "amb_gateway_batch_commit_seconds",
    "Time to commit one batch.",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
BATCH_FIXES = Histogram(
    "amb_gateway_batch_fixes",
    "Fixes per committed batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
ACK_SECONDS = Histogram(
    "amb_gateway_ack_latency_seconds",
    "From receipt of a message to its acknowledgement (after commit).",
    ["protocol"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)
QUARANTINED = Counter(
    "amb_gateway_quarantined_total",
    "Fixes the database rejected, kept in the quarantine table.",
    ["protocol"],
)
ABANDONED_MESSAGES = Counter(
    "amb_gateway_abandoned_messages_total",
    "Messages left unacknowledged at shutdown because their batch could not commit (redelivered).",
)
FLAGGED = Counter(
    "amb_gateway_flagged_total",
    "Fixes stored flagged, not valid (reason: impossible_jump, alarm_only).",
    ["reason"],
)
CONTACTS_WRITTEN = Counter(
    "amb_gateway_contacts_written_total", "Heartbeat contacts of devices written to device_contact."
)
EVENTS_RAISED = Counter("amb_gateway_events_total", "Events the gateway raised itself, by kind.", ["kind"])
COMMIT_FAILURES = Counter("amb_gateway_commit_failures_total", "Batch commits that failed and were retried.")
PENDING_FIXES = Gauge("amb_gateway_pending_fixes", "Fixes received and not yet committed.")
BROKER_CONNECTED = Gauge("amb_gateway_broker_connected", "1 while consuming the broker's ingest queue.")

# Stream (TCP/UDP/HTTP) transports, per protocol.
CONNECTIONS = Counter("amb_gateway_connections_total", "Connections accepted.", ["protocol"])
CONNECTIONS_OPEN = Gauge("amb_gateway_connections_open", "Connections open now.", ["protocol"])
CLOSED = Counter(
    "amb_gateway_connections_closed_total", "Connections closed, by reason.", ["protocol", "reason"]
)
CONNECTIONS_REFUSED = Counter(
    "amb_gateway_connections_refused_total",
    "TCP connections refused at once (reason: total or per_address cap).",
    ["protocol", "reason"],
)
DUPLICATE_SESSIONS = Counter(
    "amb_gateway_duplicate_sessions_total",
    "A device identified on a second live TCP session from another address (outcome: refused or "
    "replaced, by AMB_GATEWAY_ALLOW_CONCURRENT_SESSIONS).",
    ["protocol", "outcome"],
)
DATAGRAMS_DROPPED = Counter(
    "amb_gateway_datagrams_dropped_total",
    "UDP datagrams dropped: the processing queue was full.",
    ["protocol"],
)
BYTES = Counter("amb_gateway_bytes_total", "Bytes received.", ["protocol"])
FRAMES = Counter("amb_gateway_frames_total", "Frames (or datagrams, or requests) received.", ["protocol"])
FRAME_ERRORS = Counter("amb_gateway_frame_errors_total", "Streams that could not be framed.", ["protocol"])
GARBAGE_BYTES = Counter(
    "amb_gateway_garbage_bytes_total", "Bytes skipped while resynchronising.", ["protocol"]
)
CHECKSUM_ERRORS = Counter("amb_gateway_checksum_errors_total", "Frames with a wrong checksum.", ["protocol"])

# HTTP (OsmAnd) and OwnTracks devices.
UNAUTHENTICATED = Counter(
    "amb_gateway_unauthenticated_total",
    "Requests accepted on the device id alone (the device has no token yet).",
    ["protocol"],
)
HTTP_RESPONSES = Counter(
    "amb_gateway_http_responses_total", "HTTP responses sent to devices, by status.", ["protocol", "status"]
)
IGNORED_MESSAGES = Counter(
    "amb_gateway_ignored_messages_total",
    "Well-formed messages that carry no fix (OwnTracks lwt, transition, card...), by type.",
    ["protocol", "type"],
)
