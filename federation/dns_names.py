"""The DNS label: the one spelling SNI can carry for a subset, shared by the config and the
gateway so that a name the config accepts is a name the gateway can route."""

from __future__ import annotations

import re

# RFC 1123 label in lower case: SNI routing compares names in lower case (RFC 4343).
DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DNS_LABEL_PATTERN = rf"^{DNS_LABEL}$"
_LABEL = re.compile(DNS_LABEL)


def is_dns_label(name: str) -> bool:
    return _LABEL.fullmatch(name) is not None
