"""Observables: typed, validated and normalised values an incident is about.

Kinds and what a value must be (normalised form in brackets):

- ``ip`` -- an IPv4 or IPv6 address [compressed, lower case: ``2001:db8::1``];
- ``domain`` -- a DNS name of labels (letters, digits, ``-``, IDNA for non-ASCII) [lower
  case, no trailing dot];
- ``url`` -- an ``http``/``https``/``ftp`` URL with a host [as given, scheme and host lower];
- ``hash`` -- hex of MD5 (32), SHA-1 (40), SHA-256 or SM3 (64), SHA-512 (128) [lower case];
- ``email`` -- ``local@domain`` with a valid domain [domain lower case];
- ``user`` -- an account name, 1-128 printable characters without spaces at the ends;
- ``host`` -- a host name (a domain-like name or a single label) [lower case]; ``device`` is
  kept as its old name.

:func:`normalise` raises :class:`tulou.errors.UsageError` (400) saying what is wrong, so
``ip: not-an-ip`` is refused instead of stored. Two spellings of one value (``2001:DB8::1``
and ``2001:db8:0::1``) normalise to the same observable, and link across cases.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from soc.i18n import _
from tulou.errors import UsageError

KINDS: tuple[str, ...] = ("ip", "domain", "url", "hash", "email", "user", "host")
ALIASES = {"device": "host"}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_HEX = re.compile(r"^[0-9a-f]+$")
HASH_LENGTHS = {32: "MD5", 40: "SHA-1", 64: "SHA-256/SM3", 128: "SHA-512"}


def _domain(value: str, *, single_label: bool = False) -> str:
    text = value.strip().rstrip(".")
    try:
        ascii_name = text.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UsageError(_("{value!r} is not a valid domain name").format(value=value)) from exc
    labels = ascii_name.split(".")
    if (
        not ascii_name
        or len(ascii_name) > 253
        or (len(labels) < 2 and not single_label)
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise UsageError(_("{value!r} is not a valid domain name").format(value=value))
    return ascii_name


def normalise(kind: str, value: str) -> tuple[str, str]:
    """(kind, value) in canonical form, or UsageError saying why the value is not a ``kind``."""
    kind = ALIASES.get(kind, kind)
    text = value.strip()
    if kind not in KINDS:
        raise UsageError(
            _("unknown observable kind {kind!r}; one of {kinds}").format(
                kind=kind, kinds=", ".join(KINDS)
            )
        )
    if not text:
        raise UsageError(_("an observable needs a value"))
    if kind == "ip":
        try:
            return kind, str(ipaddress.ip_address(text))
        except ValueError as exc:
            raise UsageError(
                _("{value!r} is not an IPv4 or IPv6 address").format(value=text)
            ) from exc
    if kind == "domain":
        return kind, _domain(text)
    if kind == "host":
        try:
            return kind, str(ipaddress.ip_address(text))
        except ValueError:
            return kind, _domain(text, single_label=True)
    if kind == "url":
        parts = urlsplit(text)
        if parts.scheme.lower() not in ("http", "https", "ftp") or not parts.hostname:
            raise UsageError(_("{value!r} is not an http(s) or ftp URL").format(value=text))
        try:
            ipaddress.ip_address(parts.hostname)
        except ValueError:
            _domain(parts.hostname, single_label=True)
        return kind, parts._replace(
            scheme=parts.scheme.lower(), netloc=parts.netloc.lower()
        ).geturl()
    if kind == "hash":
        lowered = text.lower()
        if not _HEX.match(lowered) or len(lowered) not in HASH_LENGTHS:
            raise UsageError(
                _("{value!r} is not an MD5, SHA-1, SHA-256/SM3 or SHA-512 hex digest").format(
                    value=text
                )
            )
        return kind, lowered
    if kind == "email":
        local, at, domain = text.rpartition("@")
        if not at or not local or len(local) > 64 or any(c.isspace() for c in local):
            raise UsageError(_("{value!r} is not an e-mail address").format(value=text))
        return kind, f"{local}@{_domain(domain)}"
    # user
    if len(text) > 128 or not text.isprintable():
        raise UsageError(_("{value!r} is not an account name").format(value=text))
    return kind, text


def hash_algorithm(value: str) -> str:
    return HASH_LENGTHS.get(len(value), "?")
