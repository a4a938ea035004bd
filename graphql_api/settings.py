"""Settings read once from the environment.

Two run modes share one code path: the embedded default (no configuration: SQLite under ``DATA_DIR`` and
an in-process bus) and production (``APP_ENV=production``, PostgreSQL and Redis from URLs). Production
never guesses: it refuses to start without a SECRET_KEY, and its introspection, GraphiQL and field
suggestions default to off.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import Secret

from .tracing import tracing_enabled
from .units import Seconds

# The page size of a connection whose `first` is not given (capped by MAX_PAGE_SIZE).
DEFAULT_PAGE_SIZE = 20


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(env: Mapping[str, str], name: str) -> tuple[IPNetwork, ...]:
    """Comma-separated IP addresses or CIDR networks (``10.0.0.0/8, 192.168.1.7``)."""
    networks = []
    for item in (env.get(name) or "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise SettingsError(f"{name}: {item.strip()!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _decimal(env: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = env.get(name) or default
    try:
        value = Decimal(raw)
    except ArithmeticError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise SettingsError(f"{name} must be a positive number, got {raw!r}")
    return value


def _namespace(env: Mapping[str, str]) -> str:
    value = (env.get("BROADCAST_NAMESPACE") or "gql").strip()
    if not value.replace("-", "").replace("_", "").isalnum() or len(value) > 40:
        raise SettingsError("BROADCAST_NAMESPACE must be up to 40 letters, digits, - or _")
    return value


def _fee(env: Mapping[str, str], name: str, default: str, below: str = "0.1") -> Decimal:
    """A fraction in [0, below): fee rates, or the referrers' share of fees."""
    raw = env.get(name) or default
    try:
        value = Decimal(raw)
    except ArithmeticError:
        raise SettingsError(f"{name} must be a fraction such as 0.001, got {raw!r}") from None
    if not value.is_finite() or not Decimal(0) <= value < Decimal(below):
        raise SettingsError(f"{name} must be between 0 and {below}, got {raw!r}")
    return value


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and /ready."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    data_dir: Path = Path("data")
    database_url: str = ""
    broadcast_url: str = "memory://"
    broadcast_namespace: str = "gql"
    database_pool_size: int = 20
    secret_key: Secret = field(default_factory=lambda: Secret(""), repr=False)
    cors_origins: tuple[str, ...] = ()
    graphiql: bool = True
    introspection: bool = True
    field_suggestions: bool = True
    max_query_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 5000
    max_query_cost: int = 10_000
    max_body_bytes: int = 1_000_000
    max_page_size: int = 100
    max_symbols_per_subscription: int = 50
    max_subscriptions_per_socket: int = 50
    # Frames one connection may have waiting to be sent before it is closed as a slow consumer (graphql_api/fanout.py).
    stream_send_queue: int = 512
    max_sockets_per_user: int = 20
    max_sockets_per_ip: int = 100
    ws_messages_per_second: int = 10
    ws_connection_init_timeout: Seconds = 3.0
    feed_enabled: bool = True
    feed_interval: Decimal = Decimal("1")
    feed_seed: int = 20_260_101
    feed_leader_poll: Decimal = Decimal("1")
    registration_mode: str = "open"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 24 * 3600
    session_idle_timeout: int = 1800
    session_cache_ttl: int = 1
    jwt_issuer: str = "graphql-trading-api"
    jwt_audience: str = "graphql-trading-api"
    cookie_secure: bool = False
    siwe_domain: str = "localhost:8000"
    siwe_uri: str = "http://localhost:8000"
    siwe_chain_id: int = 1
    siwe_statement: str = "Sign in to the trading platform."
    wallet_nonce_ttl: int = 300
    login_failures_per_account: int = 5
    login_failures_per_ip: int = 20
    login_failure_window: int = 900
    login_backoff_base: int = 1
    login_backoff_max: int = 900
    rate_limit_window: int = 60
    rate_limit_general: int = 100
    rate_limit_trading: int = 60
    rate_limit_market_data: int = 300
    rate_limit_auth: int = 5
    book_level_notional: Decimal = Decimal("10000")
    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.0002")
    equity_snapshot_interval: int = 60
    request_deadline: Seconds = 30.0
    database_statement_timeout: Seconds = 30.0
    database_connect_timeout: Seconds = 5.0
    log_format: str = "text"
    metrics: bool = True
    tracing: bool = False
    deadman_daily_triggers: int = 10
    perp_funding_interval: int = 3600
    perp_insurance_fund: Decimal = Decimal("1000000")
    paper_deposit_daily_limit: Decimal = Decimal("100000")
    bots_enabled: bool = True
    bot_lease_ttl: Seconds = 5.0
    bot_lease_renew: Seconds = 1.0
    session_engine_enabled: bool = True
    session_lease_ttl: Seconds = 5.0
    session_lease_renew: Seconds = 1.0
    # Whole seconds between a held session's full engine steps (entries); 0: only runSessionEngineOnce does them.
    session_engine_interval: Seconds = 60.0
    copying_enabled: bool = True
    copy_dispatch_interval: Seconds = 0.2
    copy_claim_ttl: Seconds = 30.0
    copy_concurrency: int = 8
    referral_reward_rate: Decimal = Decimal("0.2")
    # Addresses (IPs or CIDR networks) admin operations are allowed from; empty allows any.
    admin_ip_allowlist: tuple[IPNetwork, ...] = ()
    persisted_queries: str = "apq"
    persisted_queries_manifest: Path | None = None
    apq_ttl: int = 86_400
    apq_cache_size: int = 1000
    max_batch_size: int = 10
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: Secret = field(default_factory=lambda: Secret(""), repr=False)
    smtp_from: str = "alerts@localhost"
    smtp_starttls: bool = False
    delivery_interval: Seconds = 2.0
    delivery_max_attempts: int = 6
    delivery_backoff: Seconds = 2.0
    webhook_timeout: Seconds = 10.0

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def tortoise_db_url(self) -> str:
        """Tortoise spells PostgreSQL ``postgres://`` (the libpq spelling is accepted too) and sizes its
        connection pool from the URL; its default of 5 starves the feed under order load."""
        url = self.database_url
        if url.startswith("postgresql://"):
            url = "postgres://" + url.removeprefix("postgresql://")
        if url.startswith("postgres://") and "maxsize=" not in url:
            url += ("&" if "?" in url else "?") + f"minsize=1&maxsize={self.database_pool_size}"
        return url

    @property
    def libpq_db_url(self) -> str:
        if self.database_url.startswith("postgres://"):
            return "postgresql://" + self.database_url.removeprefix("postgres://")
        return self.database_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        app_env = (env.get("APP_ENV") or "development").strip().lower()
        if app_env not in {"development", "production"}:
            raise SettingsError(f"APP_ENV must be development or production, got {app_env!r}")
        production = app_env == "production"
        data_dir = Path(env.get("DATA_DIR") or "data")

        database_url = env.get("DATABASE_URL") or ""
        if not database_url:
            if production:
                raise SettingsError("DATABASE_URL is required when APP_ENV=production")
            database_url = f"sqlite://{data_dir / 'graphql_api.sqlite3'}"
        scheme = database_url.split("://", 1)[0]
        if scheme not in {"sqlite", "postgres", "postgresql"}:
            raise SettingsError(f"DATABASE_URL must be sqlite://, postgres:// or postgresql://, got {scheme}://")

        broadcast_url = env.get("BROADCAST_URL") or "memory://"
        bscheme = broadcast_url.split("://", 1)[0]
        if bscheme not in {"memory", "redis", "rediss"}:
            raise SettingsError(f"BROADCAST_URL must be memory://, redis:// or rediss://, got {bscheme}://")

        secret = env.get("SECRET_KEY") or ""
        if not secret:
            if production:
                raise SettingsError("SECRET_KEY is required when APP_ENV=production")
            secret = _embedded_secret(data_dir)
        elif len(secret) < 32:
            raise SettingsError("SECRET_KEY must be at least 32 characters")

        registration_mode = (env.get("REGISTRATION_MODE") or ("approval" if production else "open")).lower()
        if registration_mode not in {"open", "approval"}:
            raise SettingsError(f"REGISTRATION_MODE must be open or approval, got {registration_mode!r}")
        siwe_uri = env.get("SIWE_URI") or "http://localhost:8000"
        siwe_domain = env.get("SIWE_DOMAIN") or (urlsplit(siwe_uri).netloc or "localhost:8000")

        log_format = (env.get("LOG_FORMAT") or ("json" if production else "text")).strip().lower()
        if log_format not in {"json", "text"}:
            raise SettingsError(f"LOG_FORMAT must be json or text, got {log_format!r}")
        persisted_queries = (env.get("PERSISTED_QUERIES") or "apq").strip().lower()
        if persisted_queries not in {"off", "apq", "allowlist"}:
            raise SettingsError(f"PERSISTED_QUERIES must be off, apq or allowlist, got {persisted_queries!r}")
        manifest = env.get("PERSISTED_QUERIES_MANIFEST") or None
        if persisted_queries == "allowlist" and manifest is None:
            raise SettingsError("PERSISTED_QUERIES=allowlist needs PERSISTED_QUERIES_MANIFEST (a manifest's path)")
        origins = tuple(o.strip() for o in (env.get("CORS_ORIGINS") or "").split(",") if o.strip())
        return cls(
            app_env=app_env,
            data_dir=data_dir,
            database_url=database_url,
            broadcast_url=broadcast_url,
            broadcast_namespace=_namespace(env),
            database_pool_size=_int(env, "DATABASE_POOL_SIZE", 20, minimum=2),
            secret_key=Secret(secret),
            cors_origins=origins,
            graphiql=_bool(env, "GRAPHIQL", not production),
            introspection=_bool(env, "INTROSPECTION", not production),
            field_suggestions=_bool(env, "FIELD_SUGGESTIONS", not production),
            max_query_depth=_int(env, "MAX_QUERY_DEPTH", 15, minimum=1),
            max_aliases=_int(env, "MAX_ALIASES", 30, minimum=1),
            max_tokens=_int(env, "MAX_TOKENS", 5000, minimum=10),
            max_query_cost=_int(env, "MAX_QUERY_COST", 10_000, minimum=1),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 1_000_000, minimum=1024),
            max_page_size=_int(env, "MAX_PAGE_SIZE", 100, minimum=1),
            max_symbols_per_subscription=_int(env, "MAX_SYMBOLS_PER_SUBSCRIPTION", 50, minimum=1),
            max_subscriptions_per_socket=_int(env, "MAX_SUBSCRIPTIONS_PER_SOCKET", 50, minimum=1),
            stream_send_queue=_int(env, "STREAM_SEND_QUEUE", 512, minimum=2),
            max_sockets_per_user=_int(env, "MAX_SOCKETS_PER_USER", 20, minimum=1),
            max_sockets_per_ip=_int(env, "MAX_SOCKETS_PER_IP", 100, minimum=1),
            ws_messages_per_second=_int(env, "WS_MESSAGES_PER_SECOND", 10, minimum=1),
            ws_connection_init_timeout=float(_int(env, "WS_CONNECTION_INIT_TIMEOUT", 3, minimum=1)),
            feed_enabled=_bool(env, "FEED_ENABLED", True),
            feed_interval=_decimal(env, "FEED_INTERVAL", "1"),
            feed_seed=_int(env, "FEED_SEED", 20_260_101),
            feed_leader_poll=_decimal(env, "FEED_LEADER_POLL", "1"),
            registration_mode=registration_mode,
            access_token_ttl=_int(env, "ACCESS_TOKEN_TTL", 900, minimum=10),
            refresh_token_ttl=_int(env, "REFRESH_TOKEN_TTL", 30 * 24 * 3600, minimum=60),
            session_idle_timeout=_int(env, "SESSION_IDLE_TIMEOUT", 1800, minimum=10),
            session_cache_ttl=_int(env, "SESSION_CACHE_TTL", 1),
            jwt_issuer=env.get("JWT_ISSUER") or "graphql-trading-api",
            jwt_audience=env.get("JWT_AUDIENCE") or "graphql-trading-api",
            cookie_secure=_bool(env, "COOKIE_SECURE", production),
            siwe_domain=siwe_domain,
            siwe_uri=siwe_uri,
            siwe_chain_id=_int(env, "SIWE_CHAIN_ID", 1, minimum=1),
            siwe_statement=env.get("SIWE_STATEMENT") or "Sign in to the trading platform.",
            wallet_nonce_ttl=_int(env, "WALLET_NONCE_TTL", 300, minimum=10),
            login_failures_per_account=_int(env, "LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1),
            login_failures_per_ip=_int(env, "LOGIN_FAILURES_PER_IP", 20, minimum=1),
            login_failure_window=_int(env, "LOGIN_FAILURE_WINDOW", 900, minimum=1),
            login_backoff_base=_int(env, "LOGIN_BACKOFF_BASE", 1, minimum=1),
            login_backoff_max=_int(env, "LOGIN_BACKOFF_MAX", 900, minimum=1),
            rate_limit_window=_int(env, "RATE_LIMIT_WINDOW", 60, minimum=1),
            rate_limit_general=_int(env, "RATE_LIMIT_GENERAL", 100, minimum=1),
            rate_limit_trading=_int(env, "RATE_LIMIT_TRADING", 60, minimum=1),
            rate_limit_market_data=_int(env, "RATE_LIMIT_MARKET_DATA", 300, minimum=1),
            rate_limit_auth=_int(env, "RATE_LIMIT_AUTH", 5, minimum=1),
            book_level_notional=_decimal(env, "BOOK_LEVEL_NOTIONAL", "10000"),
            taker_fee=_fee(env, "PAPER_TAKER_FEE", "0.001"),
            maker_fee=_fee(env, "PAPER_MAKER_FEE", "0.0002"),
            equity_snapshot_interval=_int(env, "EQUITY_SNAPSHOT_INTERVAL", 60, minimum=1),
            request_deadline=float(_decimal(env, "REQUEST_DEADLINE", "30")),
            database_statement_timeout=float(_decimal(env, "DATABASE_STATEMENT_TIMEOUT", "30")),
            database_connect_timeout=float(_decimal(env, "DATABASE_CONNECT_TIMEOUT", "5")),
            log_format=log_format,
            metrics=_bool(env, "METRICS", True),
            tracing=tracing_enabled(env),
            deadman_daily_triggers=_int(env, "DEADMAN_DAILY_TRIGGERS", 10, minimum=1),
            perp_funding_interval=_int(env, "PERP_FUNDING_INTERVAL", 3600, minimum=1),
            perp_insurance_fund=_decimal(env, "PERP_INSURANCE_FUND", "1000000"),
            paper_deposit_daily_limit=_decimal(env, "PAPER_DEPOSIT_DAILY_LIMIT", "100000"),
            bots_enabled=_bool(env, "BOTS_ENABLED", True),
            bot_lease_ttl=float(_decimal(env, "BOT_LEASE_TTL", "5")),
            bot_lease_renew=float(_decimal(env, "BOT_LEASE_RENEW", "1")),
            session_engine_enabled=_bool(env, "SESSION_ENGINE_ENABLED", True),
            session_lease_ttl=float(_decimal(env, "SESSION_LEASE_TTL", "5")),
            session_lease_renew=float(_decimal(env, "SESSION_LEASE_RENEW", "1")),
            session_engine_interval=float(_int(env, "SESSION_ENGINE_INTERVAL", 60)),
            copying_enabled=_bool(env, "COPYING_ENABLED", True),
            copy_dispatch_interval=float(_decimal(env, "COPY_DISPATCH_INTERVAL", "0.2")),
            copy_claim_ttl=float(_decimal(env, "COPY_CLAIM_TTL", "30")),
            copy_concurrency=_int(env, "COPY_CONCURRENCY", 8, minimum=1),
            referral_reward_rate=_fee(env, "REFERRAL_REWARD_RATE", "0.2", below="1"),
            admin_ip_allowlist=_networks(env, "ADMIN_IP_ALLOWLIST"),
            persisted_queries=persisted_queries,
            persisted_queries_manifest=Path(manifest) if manifest else None,
            apq_ttl=_int(env, "APQ_TTL", 86_400, minimum=1),
            apq_cache_size=_int(env, "APQ_CACHE_SIZE", 1000, minimum=1),
            max_batch_size=_int(env, "MAX_BATCH_SIZE", 10, minimum=1),
            smtp_host=(env.get("SMTP_HOST") or "").strip(),
            smtp_port=_int(env, "SMTP_PORT", 587, minimum=1),
            smtp_user=env.get("SMTP_USER") or "",
            smtp_password=Secret(env.get("SMTP_PASSWORD") or ""),
            smtp_from=env.get("SMTP_FROM") or "alerts@localhost",
            smtp_starttls=_bool(env, "SMTP_STARTTLS", False),
            # 0 runs no dispatcher in this process (another process, or a test, drains the outbox).
            delivery_interval=0.0
            if env.get("DELIVERY_INTERVAL") == "0"
            else float(_decimal(env, "DELIVERY_INTERVAL", "2")),
            delivery_max_attempts=_int(env, "DELIVERY_MAX_ATTEMPTS", 6, minimum=1),
            delivery_backoff=float(_decimal(env, "DELIVERY_BACKOFF", "2")),
            webhook_timeout=float(_decimal(env, "WEBHOOK_TIMEOUT", "10")),
        )


def _embedded_secret(data_dir: Path) -> str:
    """A development secret generated once and kept under DATA_DIR so tokens survive restarts."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
