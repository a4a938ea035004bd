"""Typed events: one module of event dataclasses per domain, one ``publish``, one ``decode``.

An event class names its channel kind (``@event("orders")``) and which field keys the channel
(``key``); the channel name itself is made by ``graphql_api.pubsub.channel``. On the wire an event is a
JSON object of its fields in camelCase (Decimals as strings, datetimes ISO-8601), so the memory bus of
the tests proves the Redis bus; ``decode`` turns a delivery back into the dataclass.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from ..pubsub import Bus, BusEvent, channel, parse_time

E = TypeVar("E", bound="Event")


class Event:
    kind: ClassVar[str]
    key_field: ClassVar[str]

    @property
    def channel(self) -> str:
        return channel(self.kind, getattr(self, self.key_field))

    def payload(self) -> dict[str, Any]:
        return {_camel(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


_KINDS: dict[str, type[Event]] = {}
# How a field's JSON value becomes its Python type (annotations are strings under postponed evaluation).
_PARSE: dict[str, Callable[[Any], Any]] = {"Decimal": Decimal, "int": int, "datetime": parse_time}


def event(kind: str, key: str) -> Callable[[type[E]], type[E]]:
    """Register an event dataclass under its channel kind; ``key`` is the field the channel is keyed by."""

    def register(cls: type[E]) -> type[E]:
        if kind in _KINDS:
            raise ValueError(f"two event classes for channel kind {kind}")
        cls.kind, cls.key_field = kind, key
        _KINDS[kind] = cls
        return cls

    return register


def channel_for(cls: type[Event], key: object) -> str:
    """The channel a subscriber listens on for events of ``cls`` keyed by ``key``."""
    return channel(cls.kind, str(key))


async def publish(bus: Bus, item: Event) -> bool:
    return await bus.publish(item.channel, item.payload())


def decode(delivery: BusEvent) -> Event | None:
    """The event of a delivery, or None for a resync notice (the stream re-reads its state)."""
    if delivery.payload is None:
        return None
    cls = _KINDS[delivery.channel.split(":", 1)[0]]
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        raw = delivery.payload.get(_camel(f.name))
        parse = _PARSE.get(str(f.type))
        values[f.name] = parse(raw) if parse is not None and raw is not None else raw
    return cls(**values)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


__all__ = ["Event", "channel_for", "datetime", "decode", "event", "publish"]


def _register_every_domain() -> None:
    """Import each domain's event module so ``decode`` knows every kind (a new module needs no edit here)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_register_every_domain()
