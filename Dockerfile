# The application image: gateway, API, emulator and amb-admin (choose with the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY tracking tracking
COPY api api
COPY device_emulator device_emulator
COPY db db
COPY data data
# Editable, so the package finds db/ and data/ beside it in /app.
RUN pip install --no-cache-dir -e . && useradd --system --uid 10001 amb
USER amb
CMD ["amb-api"]
