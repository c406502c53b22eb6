"""Plaintext TLS alerts a passthrough gateway can send before any key exists (RFC 8446 §6)."""

from __future__ import annotations

from enum import IntEnum

_ALERT_RECORD = 0x15
_FATAL = 2
# RFC 8446 §5.1: legacy_record_version is 0x0303 for everything but an initial ClientHello.
_RECORD_VERSION = b"\x03\x03"


class AlertDescription(IntEnum):
    DECODE_ERROR = 50
    INTERNAL_ERROR = 80
    UNRECOGNIZED_NAME = 112


def fatal_alert(description: AlertDescription) -> bytes:
    """One alert record, so the client reports why instead of an unexplained EOF."""
    return bytes([_ALERT_RECORD, *_RECORD_VERSION, 0, 2, _FATAL, description])
