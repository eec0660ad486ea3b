"""The message engine as the project's services use it (RabbitMQ over AMQP 0-9-1).

Holds the names of the topology (rabbitmq/definitions.json declares it), the connection loop
with backoff, and the publisher of committed data. It imports no HTTP and nothing of the
gateway or the API, which meet only through it and the database (docs/architecture.md).
"""
