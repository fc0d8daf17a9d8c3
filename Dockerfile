# syntax=docker/dockerfile:1
# newsmon image: the CLI, the Prefect flows, and the default config.
#
#   docker build -t newsmon:latest .
#   docker run --rm -v newsmon-data:/data newsmon:latest            # newsmon serve
#   docker run --rm newsmon:latest --help
#
# compose.yaml runs the same image as Prefect server, worker and web UI.

# --- builder: the virtualenv ---------------------------------------------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" \
    VIRTUAL_ENV=/opt/venv

WORKDIR /app
# Pinned dependencies first: this layer is reused until requirements.lock changes.
# Every pin has a binary wheel, so no compiler is needed even here.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# The project itself, editable, so /app is the single copy of the code: Prefect
# deployments load flows/cycle.py from /app (see prefect.yaml). README.md* : the
# install works without it, so a missing README does not break the build.
COPY pyproject.toml README.md* ./
COPY monitor/ monitor/
COPY flows/ flows/
RUN pip install --no-deps -e .

# --- final: venv + code, no build tools ----------------------------------------------
FROM python:3.11-slim

RUN groupadd --system --gid 10001 newsmon \
 && useradd --system --uid 10001 --gid newsmon --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin newsmon \
 && mkdir -p /data \
 && chown newsmon:newsmon /data

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
COPY config/ /app/config/
COPY prefect.yaml /app/prefect.yaml

ENV PATH="/opt/venv/bin:$PATH" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NEWSMON_CONFIG=/app/config \
    NEWSMON_HOME=/data \
    PREFECT_HOME=/data/prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

WORKDIR /app
VOLUME ["/data"]
USER newsmon

ENTRYPOINT ["newsmon"]
CMD ["serve"]
