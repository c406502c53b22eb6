from __future__ import annotations

import contextlib
import itertools
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.gateway.clienthello import (
    MAX_RECORD_LENGTH,
    ClientHello,
    ClientHelloError,
    ClientHelloReader,
    HelloErrorKind,
    parse_client_hello_body,
)
from tests.federation.gateway.hellos import (
    captured_client_hello,
    client_hello_message,
    frame,
    unframe,
)

SNI = "outbound_.443_._.svc-a.ns.svc.cluster.local"
REAL_HELLO = captured_client_hello(SNI, alpn=("h2", "http/1.1"))


def feed_all(chunks: list[bytes], max_hello_bytes: int = 64 * 1024) -> ClientHello:
    reader = ClientHelloReader(max_hello_bytes)
    for chunk in chunks[:-1]:
        assert reader.feed(chunk) is None
    hello = reader.feed(chunks[-1])
    assert hello is not None
    return hello


def expect_error(data: bytes, max_hello_bytes: int = 64 * 1024) -> HelloErrorKind:
    with pytest.raises(ClientHelloError) as caught:
        ClientHelloReader(max_hello_bytes).feed(data)
    return caught.value.kind


def test_real_hello_yields_sni_alpn_and_its_exact_bytes() -> None:
    hello = feed_all([REAL_HELLO])
    assert hello.server_name == SNI
    assert hello.alpn_protocols == (b"h2", b"http/1.1")
    assert hello.raw == REAL_HELLO


def test_real_hello_fed_one_byte_at_a_time_completes_on_its_last_byte() -> None:
    hello = feed_all([REAL_HELLO[i : i + 1] for i in range(len(REAL_HELLO))])
    assert hello.server_name == SNI
    assert hello.raw == REAL_HELLO


@given(st.lists(st.integers(min_value=1, max_value=len(REAL_HELLO) - 1), unique=True))
def test_real_hello_in_any_split_parses_the_same(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(REAL_HELLO)]
    hello = feed_all([REAL_HELLO[a:b] for a, b in itertools.pairwise(edges)])
    assert (hello.server_name, hello.raw) == (SNI, REAL_HELLO)


@pytest.mark.parametrize("fragment_size", [1, 7, 100, 511])
def test_real_hello_reframed_into_several_records_parses(fragment_size: int) -> None:
    records = frame(unframe(REAL_HELLO), fragment_size)
    hello = feed_all([records])
    assert hello.server_name == SNI
    assert hello.raw == records


def test_hello_larger_than_one_record_is_reassembled_across_records_and_segments() -> None:
    # A post-quantum key share pushes real hellos past one record; padding stands in for it.
    message = client_hello_message(SNI, padding=20_000)
    records = frame(message)
    assert len(message) > 2**14
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, len(records)), 40))
    edges = [0, *cuts, len(records)]
    hello = feed_all([records[a:b] for a, b in itertools.pairwise(edges)])
    assert hello.server_name == SNI
    assert hello.alpn_protocols == (b"h2",)


def test_bytes_after_the_hello_are_kept_for_replay() -> None:
    change_cipher_spec = b"\x14\x03\x03\x00\x01\x01"
    hello = feed_all([REAL_HELLO + change_cipher_spec])
    assert hello.raw == REAL_HELLO + change_cipher_spec


def test_hello_without_alpn_has_no_protocols() -> None:
    assert feed_all([frame(client_hello_message(SNI, alpn=()))]).alpn_protocols == ()


def test_feeding_after_completion_returns_the_same_hello() -> None:
    reader = ClientHelloReader()
    hello = reader.feed(REAL_HELLO)
    assert reader.feed(b"\x17\x03\x03\x00\x01x") is hello


DUPLICATE_ALPN = [(16, b"\x00\x03\x02h2"), (16, b"\x00\x03\x02h2")]
TWO_HOST_NAMES = [(0, b"\x00\x08\x00\x00\x01a\x00\x00\x01b")]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        pytest.param(b"GET / HTTP/1.1\r\n", HelloErrorKind.NOT_TLS, id="plain-http"),
        pytest.param(b"G", HelloErrorKind.NOT_TLS, id="first-byte-decides"),
        pytest.param(b"\x16\x02\x00\x00\x10", HelloErrorKind.NOT_TLS, id="ssl2-version"),
        pytest.param(b"\x16\x03\x05", HelloErrorKind.NOT_TLS, id="unknown-minor-version"),
        pytest.param(b"\x16\x03\x01\x00\x00", HelloErrorKind.MALFORMED, id="zero-length-record"),
        pytest.param(
            b"\x16\x03\x01" + (MAX_RECORD_LENGTH + 1).to_bytes(2, "big"),
            HelloErrorKind.OVERSIZED,
            id="record-over-tls-limit",
        ),
        pytest.param(
            frame(b"\x02\x00\x00\x02\x03\x03"), HelloErrorKind.NOT_CLIENT_HELLO, id="server-hello"
        ),
        pytest.param(
            frame(b"\x01\xff\xff\xff"), HelloErrorKind.OVERSIZED, id="declared-length-over-bound"
        ),
        pytest.param(frame(client_hello_message(None)), HelloErrorKind.NO_SNI, id="no-server-name"),
        pytest.param(
            frame(client_hello_message(SNI) + b"\x00"), HelloErrorKind.MALFORMED, id="trailing"
        ),
        pytest.param(
            frame(client_hello_message(SNI, extensions=DUPLICATE_ALPN)),
            HelloErrorKind.MALFORMED,
            id="duplicate-extension",
        ),
        pytest.param(
            frame(client_hello_message(None, extensions=TWO_HOST_NAMES)),
            HelloErrorKind.MALFORMED,
            id="two-host-names",
        ),
        pytest.param(
            frame(client_hello_message("caf\x07.example")),
            HelloErrorKind.MALFORMED,
            id="control-char-in-name",
        ),
        pytest.param(
            frame(b"\x01\x00\x00\x28" + b"\xff" * 40),
            HelloErrorKind.MALFORMED,
            id="garbage-body",
        ),
        pytest.param(
            frame(client_hello_message(SNI)[:10]) + frame(b"\x02", record_type=0x15),
            HelloErrorKind.MALFORMED,
            id="alert-interleaved",
        ),
    ],
)
def test_unroutable_first_bytes_fail_with_their_kind(data: bytes, kind: HelloErrorKind) -> None:
    assert expect_error(data) is kind


def test_real_hello_without_sni_is_reported_as_no_sni() -> None:
    assert expect_error(captured_client_hello(None)) is HelloErrorKind.NO_SNI


def test_bytes_beyond_the_bound_without_a_complete_hello_are_oversized() -> None:
    message = client_hello_message(SNI, padding=3000)
    one_byte_records = frame(message, fragment_size=1)
    # The message fits the bound, but a client dribbling one-byte records does not.
    assert expect_error(one_byte_records, max_hello_bytes=4 * len(message)) is (
        HelloErrorKind.OVERSIZED
    )


def test_hello_over_a_small_bound_is_oversized_before_it_is_all_read() -> None:
    message = client_hello_message(SNI, padding=3000)
    assert expect_error(frame(message, 100)[:200], max_hello_bytes=1024) is HelloErrorKind.OVERSIZED


@settings(max_examples=500)
@given(st.binary(max_size=2048), st.integers(min_value=1, max_value=64))
def test_arbitrary_bytes_raise_nothing_but_the_parser_error(data: bytes, chunk: int) -> None:
    reader = ClientHelloReader()
    try:
        for i in range(0, len(data), chunk):
            reader.feed(data[i : i + chunk])
    except ClientHelloError:
        pass


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=300), st.data())
def test_mutated_hello_bodies_raise_nothing_but_the_parser_error(
    garbage: bytes, data: st.DataObject
) -> None:
    # Valid record framing around a corrupted body reaches deep into the extension parser.
    message = bytearray(client_hello_message(SNI, extensions=[(42, b"x" * 8)]))
    at = data.draw(st.integers(min_value=4, max_value=len(message) - 1))
    message[at : at + len(garbage)] = garbage
    with contextlib.suppress(ClientHelloError):
        ClientHelloReader().feed(frame(bytes(message)))


@given(st.integers(min_value=0, max_value=len(REAL_HELLO) - 1))
def test_every_truncation_of_a_valid_hello_needs_more(length: int) -> None:
    assert ClientHelloReader().feed(REAL_HELLO[:length]) is None


@given(st.integers(min_value=1, max_value=200), st.data())
def test_every_truncation_of_a_multi_record_hello_needs_more(
    fragment_size: int, data: st.DataObject
) -> None:
    records = frame(client_hello_message(SNI, padding=500), fragment_size)
    length = data.draw(st.integers(min_value=0, max_value=len(records) - 1))
    assert ClientHelloReader().feed(records[:length]) is None


def test_atheris_harness_survives_a_bounded_run(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "real").write_bytes(REAL_HELLO)
    (corpus / "multi-record").write_bytes(frame(client_hello_message(SNI), 64))
    harness = Path(__file__).with_name("fuzz_clienthello.py")
    result = subprocess.run(
        [sys.executable, str(harness), "-runs=20000", "-max_len=4096", "-seed=1", str(corpus)],
        cwd=Path(__file__).parents[3],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 20000 runs" in result.stderr


# The extensions vector (its length included) of a good hello: everything after the 41 bytes
# of version, random, an empty session id, one suite and one compression method.
EXTENSIONS_VECTOR = client_hello_message()[4 + 41 :]
SUITE = b"\x13\x01"


def _body(session_id: bytes, suites: bytes, compression: bytes, tail: bytes | None) -> bytes:
    """A ClientHello body with the given fixed fields; ``tail`` None: a good extensions vector."""

    def vector(width: int, data: bytes) -> bytes:
        return len(data).to_bytes(width, "big") + data

    fixed = vector(1, session_id) + vector(2, suites) + vector(1, compression)
    return b"\x03\x03" + bytes(32) + fixed + (EXTENSIONS_VECTOR if tail is None else tail)


@pytest.mark.parametrize(
    ("body", "kind", "says"),
    [
        (_body(bytes(33), SUITE, b"\x00", None), HelloErrorKind.MALFORMED, "legacy_session_id"),
        (_body(b"", b"", b"\x00", None), HelloErrorKind.MALFORMED, "cipher_suites is 0 bytes"),
        (_body(b"", b"\x13\x01\x13", b"\x00", None), HelloErrorKind.MALFORMED, "odd length"),
        (_body(b"", SUITE, b"", None), HelloErrorKind.MALFORMED, "legacy_compression_methods"),
        (_body(b"", SUITE, b"\x00", b""), HelloErrorKind.NO_SNI, "no extensions"),
        (_body(b"", SUITE, b"\x00", b"\x00"), HelloErrorKind.MALFORMED, "extensions length"),
        (_body(b"", SUITE, b"\x00", b"\x00\x09abc"), HelloErrorKind.MALFORMED, "extensions needs"),
        (
            b"\x03\x03" + bytes(32),
            HelloErrorKind.MALFORMED,
            "legacy_session_id length needs 1 bytes",
        ),
        (
            b"\x03\x03" + bytes(32) + b"\x00\x00",
            HelloErrorKind.MALFORMED,
            "cipher_suites length needs 2 bytes",
        ),
        (b"\x03\x03" + bytes(32) + b"\x05ab", HelloErrorKind.MALFORMED, "needs 5 bytes"),
    ],
)
def test_each_fixed_field_out_of_its_bounds_is_refused_by_name(
    body: bytes, kind: HelloErrorKind, says: str
) -> None:
    with pytest.raises(ClientHelloError) as raised:
        parse_client_hello_body(body)
    assert raised.value.kind is kind
    assert says in raised.value.detail


def test_a_valid_body_built_like_the_refused_ones_parses() -> None:
    # The table above would pass vacuously if _body could not build a good hello.
    assert parse_client_hello_body(_body(bytes(32), SUITE, b"\x00", None))[0] == (
        "svc-a.ns.svc.cluster.local"
    )
