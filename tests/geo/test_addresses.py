import pytest

from geo.addresses import parse_ip, unroutable_reason
from geo.errors import InvalidAddressError


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("fd00::1", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("224.0.0.251", "multicast"),
        ("100.64.1.1", "special-purpose"),
        ("::ffff:10.0.0.1", "private"),
        ("81.2.69.142", None),
        ("2001:218::1", None),
        ("::ffff:81.2.69.142", None),
    ],
)
def test_addresses_without_a_place_on_the_map_say_why(ip: str, reason: str | None) -> None:
    assert unroutable_reason(parse_ip(ip)) == reason


@pytest.mark.parametrize("value", ["", "example.com", "300.1.1.1", "1.2.3", "2001:::1"])
def test_a_non_address_is_rejected_by_name(value: str) -> None:
    with pytest.raises(InvalidAddressError) as caught:
        parse_ip(value)
    assert repr(value) in str(caught.value)
    assert isinstance(caught.value, ValueError)
