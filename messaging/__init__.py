"""The message engine as the project uses it (RabbitMQ): the MQTT topic names that are the contract
with trackers (device_topics), the services' AMQP topology (topology), the connection loop with backoff
(connection) and the publisher of committed data (publisher). The gateway and the API meet only through
it and the database (docs/architecture.md).

May import: runtime. Knows nothing of the gateway, the API or the tracking core.
"""
