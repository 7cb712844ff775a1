# One image for every process: the API (default command), the workers and the migrations.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --shell /usr/sbin/nologin app

WORKDIR /app

COPY pyproject.toml ./
COPY shared ./shared
COPY api_service ./api_service
COPY worker_service ./worker_service
COPY tools ./tools
RUN pip install . && rm -rf build *.egg-info

USER app

EXPOSE 8080

# Exec form everywhere, so that SIGTERM from `docker stop` reaches Python, not a shell.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]

CMD ["python", "-m", "api_service"]
