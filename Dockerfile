# callsvc: `callsvc serve` on 0.0.0.0:8000 as a non-root user, SQLite in the /data volume by default.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY callsvc ./callsvc
COPY migrations ./migrations
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin callsvc \
    && mkdir -p /data \
    && chown callsvc /data

USER callsvc
WORKDIR /data
ENV CALLSVC_HOST=0.0.0.0 \
    CALLSVC_PORT=8000 \
    CALLSVC_DATABASE_URL=sqlite:////data/callsvc.db
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["callsvc", "serve"]
