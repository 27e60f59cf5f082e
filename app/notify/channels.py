"""Delivery channels for the outbox. A real SMS gateway is one class with a `send` method,
named in ONESTOP_SMS_CHANNEL as "package.module:Class"; the flow never changes for it."""

from __future__ import annotations

import importlib
import logging
from typing import Protocol

log = logging.getLogger("onestop.sms")


class Channel(Protocol):
    """Sends one message; raises on failure (the outbox retries later)."""

    name: str

    def send(self, recipient: str, body: str) -> None: ...


class LogChannel:
    """The default SMS channel: writes the message to the log instead of sending it."""

    name = "sms"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, recipient: str, body: str) -> None:
        log.info("SMS to %s: %s", recipient, body)
        self.sent.append((recipient, body))


def load_channel(spec: str | None) -> Channel:
    """The channel named by "module:Class", or the logging channel when empty or "log"."""
    if not spec or spec == "log":
        return LogChannel()
    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise ValueError(f"ONESTOP_SMS_CHANNEL must look like package.module:Class, not {spec!r}")
    channel = getattr(importlib.import_module(module_name), class_name)()
    return channel  # type: ignore[no-any-return]
