FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY graphql_api ./graphql_api
COPY schema ./schema
COPY models ./models
COPY resolvers ./resolvers
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --create-home api && mkdir -p /app/data && chown api /app/data
USER api
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/health')" || exit 1
CMD ["python", "-m", "graphql_api", "--host", "0.0.0.0", "--port", "8000"]
