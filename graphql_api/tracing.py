"""OpenTelemetry tracing, switched on by the standard ``OTEL_*`` variables and off (nothing installed,
nothing run per request) otherwise.

On when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``; comma-separated) or an OTLP
endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); off when
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. The rest is the SDK's own reading of the
environment: ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` name the service, ``OTEL_TRACES_SAMPLER``
samples, ``OTEL_EXPORTER_OTLP_*`` configure the exporter.

What is traced: each HTTP request and WebSocket connection (the ASGI instrumentation, which continues a
caller's ``traceparent``), each GraphQL operation with its parse, validation and resolvers (strawberry's
OpenTelemetryExtension), and each PostgreSQL statement and Redis command (the asyncpg and redis
instrumentations).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

SERVICE_NAME = "graphql-trading-api"


def tracing_enabled(env: Mapping[str, str]) -> bool:
    if (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return False
    exporters = (env.get("OTEL_TRACES_EXPORTER") or "").strip().lower()
    if exporters == "none":
        return False
    return bool(exporters or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # One span per line, so a log collector (and the tests) can read them as JSON lines.
        return ConsoleSpanExporter(formatter=lambda span: span.to_json(indent=None) + "\n")
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console or none)")


class Tracing:
    """The process's tracer provider and instrumentations; ``shutdown`` flushes what is pending."""

    def __init__(self, env: Mapping[str, str]) -> None:
        from opentelemetry import trace
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        names = [n.strip() for n in (env.get("OTEL_TRACES_EXPORTER") or "otlp").lower().split(",") if n.strip()]
        # Attributes given here win over the environment's: name the service only when OTEL_SERVICE_NAME does not.
        named = env.get("OTEL_SERVICE_NAME") or "service.name=" in (env.get("OTEL_RESOURCE_ATTRIBUTES") or "")
        self.provider = TracerProvider(resource=Resource.create({} if named else {"service.name": SERVICE_NAME}))
        for name in names:
            self.provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
        trace.set_tracer_provider(self.provider)
        AsyncPGInstrumentor().instrument(tracer_provider=self.provider)
        RedisInstrumentor().instrument(tracer_provider=self.provider)
        log.info("tracing on: exporting to %s", ", ".join(names))

    def wrap(self, app: Any) -> Any:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return OpenTelemetryMiddleware(app, tracer_provider=self.provider)

    def shutdown(self) -> None:
        self.provider.shutdown()
