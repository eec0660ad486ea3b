# The application image: gateway, API, emulator and amb-admin (choose with the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY api api
COPY admin admin
COPY accounts accounts
COPY tracking tracking
COPY roads roads
COPY fixes fixes
COPY messaging messaging
COPY runtime runtime
COPY device_emulator device_emulator
COPY rabbitmq rabbitmq
COPY db db
COPY data data
# Editable, so the package finds db/ and data/ beside it in /app.
RUN pip install --no-cache-dir -e . && useradd --system --uid 10001 amb
USER amb
CMD ["amb-api"]
