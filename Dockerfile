# The hub image used by docker-compose.yml: `hub serve` (HTTP + MLLP) and `hub worker` (Celery).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub ./hub
RUN pip install . \
 && useradd --create-home --uid 10001 hub \
 && mkdir -p /data \
 && chown hub /data

USER hub
# Inside a container the listeners must bind every interface (the defaults are loopback).
ENV HUB_DATA_DIR=/data \
    HUB_HTTP_HOST=0.0.0.0 \
    HUB_MLLP_HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 8000 2575
CMD ["hub", "serve"]
