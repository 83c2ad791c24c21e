"""Decode request bodies safely: gzip within a budget, strict JSON, bounded nesting."""

from __future__ import annotations

import re
import zlib
from typing import Any, BinaryIO

import orjson

# A real \u0000 escape: "u0000" after an odd run of backslashes (an even run is literal text).
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class PayloadError(Exception):
    """A body that cannot be accepted; `status` and `code` form the JSON error answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# An oversized body up to this many times MAX_REQUEST_BYTES is read to its end, then
# answered 413. Answering without reading it makes the server close a connection the
# client is still writing to: the client sees a broken pipe, not the 413, and SDKs
# retry network errors, resending the same body forever. Beyond the bound the server
# may close the connection: reading it all would let any client tie up a thread.
OVERSIZED_READ_FACTOR = 8
_DISCARD_CHUNK = 64 * 1024


def discard_oversized_body(stream: BinaryIO, length: int, max_bytes: int) -> bool:
    """Read and drop a body longer than `max_bytes` so that the client reads the 413;
    False when it is longer than OVERSIZED_READ_FACTOR x max_bytes (left unread)."""
    if length > OVERSIZED_READ_FACTOR * max_bytes:
        return False
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, _DISCARD_CHUNK))
        if not chunk:  # the client stopped sending
            break
        remaining -= len(chunk)
    return True


def decode_body(raw: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Return the body, inflating gzip without ever producing more than `max_bytes`."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        body = raw
    elif encoding in {"gzip", "x-gzip"}:
        body = _gunzip(raw, max_bytes)
    else:
        raise PayloadError(
            415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported"
        )
    if len(body) > max_bytes:
        raise PayloadError(413, "too_large", f"the request body exceeds {max_bytes} bytes")
    return body


def _gunzip(raw: bytes, max_bytes: int) -> bytes:
    """Inflate every gzip member in turn, never producing more than `max_bytes` + 1."""
    parts: list[bytes] = []
    produced = 0
    remaining = raw
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(remaining, max_bytes + 1 - produced)
        except zlib.error:
            raise PayloadError(400, "invalid_gzip", "the body is not valid gzip") from None
        produced += len(part)
        parts.append(part)
        if produced > max_bytes or inflater.unconsumed_tail:
            raise PayloadError(413, "too_large", f"the decompressed body exceeds {max_bytes} bytes")
        if not inflater.eof:
            raise PayloadError(400, "invalid_gzip", "the gzip body is truncated")
        remaining = inflater.unused_data
        if not remaining.strip(b"\x00"):  # trailing zero padding is tolerated, like gzip(1)
            return b"".join(parts)


def parse_json(body: bytes, max_depth: int | None) -> Any:
    """Parse strict JSON and refuse documents nested deeper than `max_depth`.

    With no `max_depth`, only orjson's own limit (1,024 levels) applies.
    """
    if b"\\u0000" in body and _ESCAPED_NUL.search(body):
        raise PayloadError(
            400, "unsupported_character", "strings must not contain the NUL character (\\u0000)"
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc).lower() or "recursion" in str(exc).lower():
            raise _too_deep(max_depth) from None
        raise PayloadError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if max_depth is not None and too_deep(body, document, max_depth):
        raise _too_deep(max_depth)
    return document


def too_deep(serialized: bytes, document: Any, max_depth: int) -> bool:
    """True when `document` nests deeper than `max_depth`.

    Every level opens with `{` or `[`, so a document with no more of them than the limit
    (the usual event) cannot be too deep, and the walk is skipped.
    """
    if serialized.count(b"{") + serialized.count(b"[") <= max_depth:
        return False
    return nesting_depth(document, max_depth) > max_depth


def _too_deep(max_depth: int) -> PayloadError:
    return PayloadError(400, "too_deep", f"JSON nesting deeper than {max_depth} levels")


def nesting_depth(document: Any, limit: int) -> int:
    """Return the depth of containers in `document`, stopping once it passes `limit`."""
    deepest = 0
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest
