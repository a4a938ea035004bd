# syntax=docker/dockerfile:1
# The API image: dependencies from the lock file in their own cached layer, then the source; a slim
# runtime that runs as a non-root user. Pin the base by digest for a reproducible build:
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest> .
# (`docker buildx imagetools inspect python:3.11-slim` prints the current digest.)
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /venv
# Only the lock file first: this layer (every dependency) is rebuilt only when the lock file changes.
COPY requirements.lock /tmp/requirements.lock
RUN /venv/bin/pip install -r /tmp/requirements.lock
COPY pyproject.toml README.md /src/
COPY graphql_api /src/graphql_api
COPY schema /src/schema
COPY models /src/models
COPY resolvers /src/resolvers
COPY migrations /src/migrations
RUN /venv/bin/pip install --no-deps /src

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/venv/bin:$PATH DATA_DIR=/data APP_ENV=production
RUN useradd --system --create-home --uid 10001 api && mkdir -p /data && chown api /data
COPY --from=build /venv /venv
USER api
WORKDIR /home/api
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2).status != 200)"
CMD ["python", "-m", "graphql_api", "--host", "0.0.0.0", "--port", "8000"]
