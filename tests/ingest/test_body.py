"""Unit tests of app.ingest.body: bounded gzip decoding, strict JSON, nesting limits."""

from __future__ import annotations

import gzip
import tracemalloc

import orjson
import pytest

from app.ingest.body import PayloadError, decode_body, nesting_depth, parse_json, too_deep

LIMIT = 1024 * 1024
EVENT = b'{"eventName": "user_login", "userId": 123}'


def _corrupt(data: bytes, index: int) -> bytes:
    damaged = bytearray(data)
    damaged[index] ^= 0xFF
    return bytes(damaged)


def _deep_array(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _deep_object(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """50 MB of zeros, about 50 KB once compressed."""
    return gzip.compress(b"0" * 50_000_000, compresslevel=9)


@pytest.mark.parametrize("encoding", [None, "", "identity", "IDENTITY", " identity "])
def test_identity_body_is_returned_as_is(encoding):
    assert decode_body(EVENT, encoding, LIMIT) is EVENT


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "GZIP", " gzip "])
def test_gzip_body_is_inflated(encoding):
    assert decode_body(gzip.compress(EVENT), encoding, LIMIT) == EVENT


def test_gzip_body_exactly_at_the_limit_is_accepted():
    body = b"x" * 1000
    assert decode_body(gzip.compress(body), "gzip", 1000) == body


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [(b"x" * 1001, "identity"), (gzip.compress(b"x" * 1001), "gzip")],
    ids=["identity", "gzip"],  # (gzip's header holds the time: no id from the bytes)
)
def test_body_one_byte_over_the_limit_is_refused(raw, encoding):
    with pytest.raises(PayloadError) as caught:
        decode_body(raw, encoding, 1000)
    assert (caught.value.status, caught.value.code) == (413, "too_large")


def test_gzip_bomb_is_refused_without_inflating_past_the_limit(gzip_bomb):
    assert len(gzip_bomb) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(PayloadError) as caught:
            decode_body(gzip_bomb, "gzip", LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (caught.value.status, caught.value.code) == (413, "too_large")
    # Inflating the whole bomb would need 50 MB; a bounded inflate needs about the limit.
    assert peak < 4 * LIMIT


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(EVENT, id="plain-json-labelled-gzip"),
        pytest.param(_corrupt(gzip.compress(EVENT), 2), id="unknown-method"),
        pytest.param(_corrupt(gzip.compress(EVENT), 12), id="corrupt-deflate-data"),
        pytest.param(gzip.compress(EVENT)[:-8] + b"\0" * 8, id="bad-crc"),
        pytest.param(gzip.compress(EVENT)[:-8], id="truncated-trailer"),
    ],
)
def test_invalid_gzip_is_refused(raw):
    with pytest.raises(PayloadError) as caught:
        decode_body(raw, "gzip", LIMIT)
    assert (caught.value.status, caught.value.code) == (400, "invalid_gzip")


@pytest.mark.parametrize("encoding", ["br", "deflate", "compress", "zstd", "gzip, br"])
def test_unsupported_encoding_is_refused(encoding):
    with pytest.raises(PayloadError) as caught:
        decode_body(EVENT, encoding, LIMIT)
    assert (caught.value.status, caught.value.code) == (415, "unsupported_encoding")
    assert encoding.strip().lower() in caught.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (EVENT, {"eventName": "user_login", "userId": 123}),
        (b"[1, 2]", [1, 2]),
        (b'"text"', "text"),
        (b'{"name": "caf\\u00e9", "n": 1.5}', {"name": "caf\u00e9", "n": 1.5}),
    ],
)
def test_parse_json_returns_the_document(body, expected):
    assert parse_json(body, 32) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"eventName": ',
        b"[1,]",
        b'{"a": NaN}',
        b"{'a': 1}",
        b'{"a": 1}{',
        b"\xff\xfe",
        b'{"a": "x\x00"}',
    ],
)
def test_malformed_json_is_refused(body):
    with pytest.raises(PayloadError) as caught:
        parse_json(body, 32)
    assert (caught.value.status, caught.value.code) == (400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "max_depth", "accepted"),
    [
        (_deep_array(32), 32, True),
        (_deep_array(33), 32, False),
        (_deep_object(32), 32, True),
        (_deep_object(33), 32, False),
        (_deep_array(3), 2, False),
        (_deep_array(500), 32, False),
        (_deep_array(10_000), 32, False),
        (_deep_object(10_000), 32, False),
        (_deep_array(10_000), 100_000, False),
    ],
)
def test_nesting_deeper_than_the_limit_is_refused(body, max_depth, accepted):
    if accepted:
        assert parse_json(body, max_depth) is not None
        return
    with pytest.raises(PayloadError) as caught:
        parse_json(body, max_depth)
    assert (caught.value.status, caught.value.code) == (400, "too_deep")


@pytest.mark.parametrize(
    "body",
    [
        b'{"eventName": "a\\u0000b"}',
        b'{"a\\u0000": 1}',
        b'{"list": ["\\u0000"]}',
    ],
)
def test_nul_character_is_refused(body):
    with pytest.raises(PayloadError) as caught:
        parse_json(body, 32)
    assert (caught.value.status, caught.value.code) == (400, "unsupported_character")


def test_escaped_backslash_before_u0000_is_not_a_nul():
    """`"C:\\\\u0000"` is a backslash then the text u0000: valid, storable, no NUL in it."""
    body = b'{"path": "C:\\\\u0000"}'
    assert parse_json(body, 32) == {"path": "C:\\u0000"}


@pytest.mark.parametrize(
    ("document", "depth"),
    [
        (1, 0),
        ("text", 0),
        (None, 0),
        ({}, 1),
        ([], 1),
        ({"a": 1, "b": "x"}, 1),
        ([1, [2]], 2),
        ({"a": [{"b": {}}]}, 4),
        ({"shallow": 1, "deep": {"x": {"y": [1]}}, "other": []}, 4),
    ],
)
def test_nesting_depth_values(document, depth):
    assert nesting_depth(document, 32) == depth


def test_nesting_depth_stops_just_past_the_limit():
    document: list = []
    for _ in range(10_000):
        document = [document]
    assert nesting_depth(document, 32) == 33


def test_multi_member_gzip_is_inflated_whole():
    body = gzip.compress(b'{"eventName": ') + gzip.compress(b'"x"}')
    assert decode_body(body, "gzip", 1024) == b'{"eventName": "x"}'


def test_garbage_after_the_gzip_stream_is_refused():
    with pytest.raises(PayloadError) as caught:
        decode_body(gzip.compress(b"{}") + b"trailing junk", "gzip", 1024)
    assert (caught.value.status, caught.value.code) == (400, "invalid_gzip")


def _nested(levels: int) -> dict:
    document: dict = {}
    for _ in range(levels - 1):
        document = {"x": document}
    return document


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"a": 1}, False),
        ({"text": "[" * 100 + "{" * 100}, False),  # brackets in strings are not nesting
        ({"a": [[[[1]]]]}, False),
        (_nested(33), True),
        (_nested(32), False),
    ],
)
def test_too_deep_counts_only_real_nesting(document, expected):
    assert too_deep(orjson.dumps(document), document, 32) is expected
