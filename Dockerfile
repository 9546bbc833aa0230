# The API / worker image: `emergency serve` or `emergency worker`, configured by EMERGENCY_* variables.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY emergency ./emergency
COPY feeds ./feeds
COPY mapping ./mapping
COPY alerts ./alerts
COPY sample_data ./sample_data
RUN pip install --no-cache-dir -e .
ENV EMERGENCY_HOST=0.0.0.0 EMERGENCY_PORT=8000 EMERGENCY_DATA_DIR=/data
EXPOSE 8000
CMD ["emergency", "serve"]
