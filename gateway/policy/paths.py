"""Canonical request paths and hosts, and the glob patterns rules match them with.

The enforcement point decides on the canonical path and forwards the canonical path, so the
policy and the upstream app always see the same resource. Anything ambiguous is refused rather
than guessed (each refusal is a known bypass of path-based access control):

- an encoded ``/`` or ``\\`` (``%2f``, ``%5c``): upstreams disagree on whether it separates;
- a ``%`` left after one decoding (``%252e``): double encoding;
- a backslash, a control character or NUL anywhere; bytes that are not UTF-8;
- ``..`` that would climb above the root;
- a segment ending in ``.`` or a space (``/admin./``): Windows servers strip them;
- a ``;`` in a segment (``/admin;x/``): servlet containers treat it as a path parameter.

Accepted, then normalised: ``.`` and ``..`` segments are resolved (``/a/../b`` -> ``/b``),
repeated slashes collapse (``//admin`` -> ``/admin``), unreserved percent-escapes are decoded.
Case is kept; policies match paths case-insensitively unless they opt out (a case-insensitive
upstream would otherwise serve ``/ADMIN`` past a rule written for ``/admin``).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from tulou.errors import UsageError

_HEX = frozenset("0123456789abcdefABCDEF")
_FORBIDDEN_DECODED = {0x2F: "an encoded '/'", 0x5C: "an encoded '\\'", 0x25: "double encoding"}
_SAFE = "/-._~!$&'()*+,=:@"


class PathError(UsageError):
    """The request path or host is malformed or ambiguous; the request is refused (400)."""


def _percent_decode(raw: str) -> str:
    out = bytearray()
    i = 0
    data = raw.encode("utf-8", "surrogateescape")
    while i < len(data):
        byte = data[i]
        if byte == 0x25:  # '%'
            pair = data[i + 1 : i + 3].decode("ascii", "replace")
            if len(pair) != 2 or not set(pair) <= _HEX:
                raise PathError("malformed percent-escape in path")
            value = int(pair, 16)
            if value in _FORBIDDEN_DECODED:
                raise PathError(f"path contains {_FORBIDDEN_DECODED[value]}")
            out.append(value)
            i += 3
        else:
            out.append(byte)
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise PathError("path is not UTF-8 after decoding") from None


def canonical_path(raw: str) -> str:
    """The canonical form of a request path (no query). Raises :class:`PathError`."""
    path = raw.split("?", 1)[0]
    if not path.startswith("/"):
        raise PathError("path must start with '/'")
    decoded = _percent_decode(path)
    for char in decoded:
        if char == "\\":
            raise PathError("path contains a backslash")
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise PathError("path contains a control character")
    segments: list[str] = []
    parts = decoded.split("/")
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not segments:
                raise PathError("path climbs above the root")
            segments.pop()
            continue
        if part.endswith((".", " ")):
            raise PathError("path segment ends with a dot or a space")
        if ";" in part:
            raise PathError("path segment contains ';' (a path parameter)")
        segments.append(part)
    trailing = decoded.endswith("/") and parts[-1] == "" and bool(segments)
    return "/" + "/".join(segments) + ("/" if trailing else "")


def encode_path(canonical: str) -> str:
    """Percent-encode a canonical path for the upstream request line."""
    return quote(canonical, safe=_SAFE)


def canonical_host(raw: str) -> str:
    """Lowercase host without port and without a trailing dot. Raises :class:`PathError`."""
    host = raw.strip().lower()
    if host.startswith("["):  # IPv6 literal
        end = host.find("]")
        if end < 0:
            raise PathError("malformed IPv6 host")
        return host[: end + 1]
    if host.count(":") == 1:
        host, port = host.split(":")
        if not port.isdigit():
            raise PathError("malformed port in host")
    host = host.removesuffix(".")
    if not host or not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", host) or ".." in host:
        raise PathError("malformed host")
    return host


def compile_path_glob(pattern: str, *, case_sensitive: bool) -> re.Pattern[str]:
    """``*`` matches within one segment, ``**`` across segments; ``/x/**`` also matches ``/x``."""
    if not pattern.startswith("/"):
        raise ValueError(f"path pattern {pattern!r} must start with '/'")
    suffix_any = pattern.endswith("/**")
    body = pattern[:-3] if suffix_any else pattern
    regex = ""
    i = 0
    while i < len(body):
        if body.startswith("**", i):
            regex += ".*"
            i += 2
        elif body[i] == "*":
            regex += "[^/]*"
            i += 1
        elif body[i] == "?":
            regex += "[^/]"
            i += 1
        else:
            regex += re.escape(body[i])
            i += 1
    if suffix_any:
        regex += "(?:/.*)?"
    return re.compile(regex, 0 if case_sensitive else re.IGNORECASE)


def compile_host_glob(pattern: str) -> re.Pattern[str]:
    """``*`` matches exactly one DNS label (``*.city.test`` matches ``hr.city.test``)."""
    host = pattern.lower().removesuffix(".")
    parts = [("[^.]+" if label == "*" else re.escape(label)) for label in host.split(".")]
    return re.compile(r"\.".join(parts))
