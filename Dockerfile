# syntax=docker/dockerfile:1
# Both worker images: build arguments choose the service (defaults: the batcher). Build from
# the repository root with `make images`, or one as docker-compose.yml does, e.g. the main image:
#   docker build --build-arg SERVICE=main-service --build-arg MODULE=main_service --build-arg METRICS_PORT=9101 --build-arg EXTRA_MEMBERS=batcher-service --build-arg SOURCES=loadtest -t write-batcher/main:local .
# The batcher's image also runs `python -m batcher_service migrate`; the main image the load
# test, `python -m loadtest` (docker compose run --rm loadtest).

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.11.13-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
# The workspace member (its directory) whose worker the image runs, and members installed
# beside it for what SOURCES import (the load test reads the batcher's names and stats).
ARG SERVICE=batcher-service
ARG EXTRA_MEMBERS=""
WORKDIR /src
# uv finds the workspace through every member's pyproject.toml, even to install one of them.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml ./shared/
COPY service-kit/pyproject.toml ./service-kit/
COPY batcher-service/pyproject.toml ./batcher-service/
COPY main-service/pyproject.toml ./main-service/
# Dependencies first (cached layer), exactly as locked in uv.lock, only those these members
# need. uv sync takes distribution names: each member's is read from its pyproject.toml, once
# (exit 1: a loop's status is its last command's, and a misspelt member must fail the build).
RUN for member in ${SERVICE} ${EXTRA_MEMBERS}; do \
        python -c 'import sys, tomllib; print("--package", tomllib.load(open(sys.argv[1], "rb"))["project"]["name"])' "$member/pyproject.toml" || exit 1; \
    done > /src/packages \
    && xargs uv sync --frozen --no-dev --no-install-workspace < /src/packages
# Then the members, each installed as a wheel (not editable): the venv holds only those
# named and the workspace members they depend on.
COPY shared ./shared
COPY service-kit ./service-kit
COPY batcher-service ./batcher-service
COPY main-service ./main-service
RUN xargs uv sync --frozen --no-dev --no-editable < /src/packages
# A MODULE the venv lacks would only show when the container starts: fail the build instead.
ARG MODULE=batcher_service
RUN /app/.venv/bin/python -I -c 'import importlib.util, sys; m = sys.argv[1]; sys.exit(None if importlib.util.find_spec(m) else f"no module {m}")' "${MODULE}"
# Development tools run as source from the working directory, in no wheel (only loadtest
# is in the build context, see .dockerignore).
COPY loadtest ./loadtest
ARG SOURCES=""
RUN for dir in ${SOURCES}; do cp -R "$dir" /app/ || exit 1; done

FROM python:3.11.13-slim-bookworm AS runtime
ARG SERVICE=batcher-service
ARG MODULE=batcher_service
ARG METRICS_PORT=9102
# The release version (pyproject.toml, the chart's appVersion): `make images` passes it.
ARG VERSION=0.0.0-dev
LABEL org.opencontainers.image.title="write-batcher ${SERVICE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/write-batcher/write-batcher"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent app
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    METRICS_PORT=${METRICS_PORT} \
    SERVICE_MODULE=${MODULE}
WORKDIR /app
USER 10001:10001
EXPOSE ${METRICS_PORT}
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['METRICS_PORT'], timeout=4)"]
# CMD cannot expand a build argument: the module is an ENV, and exec keeps python PID 1 so
# STOPSIGNAL reaches it.
CMD ["sh", "-c", "exec python -m \"$SERVICE_MODULE\""]
