"""Parsing client IP addresses and recognising ones no GeoIP database can place."""

import ipaddress

from geo.errors import InvalidAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(value: str) -> IPAddress:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidAddressError(
            f"client IP {value!r} is not an IPv4 or IPv6 address; "
            "pass a literal address such as 203.0.113.7 or 2001:db8::1"
        ) from None


def unmap_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped IPv6 one (``::ffff:a.b.c.d``), else ``address``.

    A dual-stack listener reports an IPv4 peer in the mapped form; databases and address
    registries file it under its IPv4 form.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def unroutable_reason(address: IPAddress) -> str | None:
    """Why ``address`` has no place on the map (e.g. ``"private"``), or None if it is public."""
    address = unmap_ipv4(address)
    # Order matters: loopback and link-local ranges are also "private" to ipaddress, and the
    # more specific word makes the explain output clearer.
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        # Shared address space (100.64.0.0/10) and the like: IANA special-purpose blocks.
        ("special-purpose", not address.is_global),
    )
    return next((reason for reason, applies in checks if applies), None)
