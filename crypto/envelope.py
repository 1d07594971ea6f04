"""The envelope: a signed, encrypted message between city systems (format: docs/crypto.md).

``header || body || signature``:

- header: magic ``TLEV``, version 1, its own length, a random 16-byte message id, the creation
  time (ms since the Unix epoch), the sender's key id and fingerprint, the content type, and one
  entry per recipient (key id, fingerprint, the 16-byte content key SM2-encrypted to it);
- body: the payload sealed with :class:`crypto.sm4.Sealer` under the fresh content key, with the
  whole header as associated data (so it streams, and no nonce is ever reused);
- signature: 64 bytes ``r || s``, the sender's SM2 signature (ID ``1234567812345678``) over
  ``header || body``.

Opening verifies the signature against a *trusted* sender key before anything is released as
authentic, then checks freshness and the message id against a replay guard, then unwraps the
content key and decrypts. Streaming opening writes plaintext as chunks authenticate; the caller
must discard the output if the final verification raises.
"""

from __future__ import annotations

import io
import secrets
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from crypto import sm4
from crypto.sm2 import SM2PublicKey, signature_from_raw, signature_to_raw
from tulou.errors import InputError, ReplayError, UsageError, VerificationError

MAGIC = b"TLEV"
VERSION = 1
SIGNATURE_SIZE = 64
MAX_HEADER = 1 << 20
_FIXED = struct.Struct(">4sBI16sQ")  # magic, version, header length, message id, created ms


class EnvelopeSigner(Protocol):
    """What sealing needs from the sender: an SM2 key (an SM2PrivateKey or a key store signer)."""

    def public_key(self) -> SM2PublicKey: ...
    def sign_hashed(self, e: bytes) -> bytes: ...


class EnvelopeDecrypter(Protocol):
    def decrypt(self, ciphertext: bytes) -> bytes: ...


class ReplayGuard(Protocol):
    """MUST raise :class:`ReplayError` for a message id seen before or a stale timestamp."""

    def check(self, message_id: bytes, created_ms: int) -> None: ...


class MemoryReplayGuard:
    """Remembers message ids for ``window`` seconds; refuses older or future-dated messages."""

    def __init__(self, window: float = 300.0) -> None:
        self.window = window
        self._seen: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def check(self, message_id: bytes, created_ms: int) -> None:
        now = time.time()
        age = now - created_ms / 1000
        if age > self.window or age < -self.window:
            raise ReplayError(f"envelope timestamp is outside the {self.window:.0f} s window")
        with self._lock:
            for old, seen_at in list(self._seen.items()):
                if now - seen_at > 2 * self.window:
                    del self._seen[old]
            if message_id in self._seen:
                raise ReplayError(f"envelope {message_id.hex()} was already received")
            self._seen[message_id] = now


@dataclass(frozen=True)
class RecipientEntry:
    key_id: str
    fingerprint: bytes
    wrapped_key: bytes


@dataclass(frozen=True)
class Header:
    message_id: bytes
    created_ms: int
    sender_id: str
    sender_fingerprint: bytes
    content_type: str
    recipients: tuple[RecipientEntry, ...]
    raw: bytes


@dataclass(frozen=True)
class Opened:
    """An opened envelope (``payload`` is empty for streams: it went to ``dst``)."""

    payload: bytes
    message_id: str
    created_ms: int
    sender_id: str
    content_type: str


def _short(text: str, what: str) -> bytes:
    data = text.encode()
    if not 0 < len(data) < 256:
        raise UsageError(f"{what} must be 1-255 bytes")
    return bytes([len(data)]) + data


def _build_header(
    sender_id: str,
    sender: SM2PublicKey,
    recipients: Sequence[tuple[str, SM2PublicKey]],
    content_type: str,
    content_key: bytes,
) -> bytes:
    if not 0 < len(recipients) < 256:
        raise UsageError("an envelope has 1-255 recipients")
    parts = [_short(sender_id, "sender id"), bytes.fromhex(sender.fingerprint())]
    parts += [_short(content_type, "content type"), bytes([len(recipients)])]
    for key_id, public in recipients:
        wrapped = public.encrypt(content_key)
        parts += [_short(key_id, "recipient id"), bytes.fromhex(public.fingerprint())]
        parts += [struct.pack(">H", len(wrapped)), wrapped]
    rest = b"".join(parts)
    created = time.time_ns() // 1_000_000
    fixed = _FIXED.pack(MAGIC, VERSION, _FIXED.size + len(rest), secrets.token_bytes(16), created)
    return fixed + rest


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise InputError("envelope header is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def short(self) -> str:
        try:
            return self.take(self.take(1)[0]).decode()
        except UnicodeDecodeError:
            raise InputError("envelope header has a non-UTF-8 field") from None


def parse_header(data: bytes) -> Header:
    """Parse (not verify) the header at the start of ``data``, which must hold all of it."""
    if len(data) < _FIXED.size:
        raise InputError("not an envelope: too short")
    magic, version, length, message_id, created = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise InputError("not a Tulou envelope (bad magic)")
    if version != VERSION:
        raise InputError(f"unsupported envelope version {version}")
    if not _FIXED.size < length <= min(len(data), MAX_HEADER):
        raise InputError("envelope header length is invalid or truncated")
    reader = _Reader(data[:length])
    reader.pos = _FIXED.size
    sender_id, sender_fp = reader.short(), reader.take(32)
    content_type = reader.short()
    entries = []
    for _ in range(reader.take(1)[0]):
        key_id, fingerprint = reader.short(), reader.take(32)
        (size,) = struct.unpack(">H", reader.take(2))
        entries.append(RecipientEntry(key_id, fingerprint, reader.take(size)))
    if reader.pos != length or not entries:
        raise InputError("envelope header is malformed")
    return Header(
        message_id, created, sender_id, sender_fp, content_type, tuple(entries), data[:length]
    )


def seal_stream(
    src: BinaryIO,
    dst: BinaryIO,
    *,
    sender: EnvelopeSigner,
    sender_id: str,
    recipients: Sequence[tuple[str, SM2PublicKey]],
    content_type: str = "application/octet-stream",
    read_size: int = 1 << 20,
) -> int:
    """Write an envelope of everything in ``src`` to ``dst``; return the payload size."""
    content_key = sm4.generate_key()
    public = sender.public_key()
    header = _build_header(sender_id, public, recipients, content_type, content_key)
    hasher = public.hasher()
    hasher.update(header)
    dst.write(header)
    sealer = sm4.Sealer(content_key, aad=header)
    total = 0
    while block := src.read(read_size):
        total += len(block)
        out = sealer.update(block)
        hasher.update(out)
        dst.write(out)
    out = sealer.finalize()
    hasher.update(out)
    dst.write(out)
    dst.write(signature_to_raw(sender.sign_hashed(hasher.digest())))
    return total


def seal(
    payload: bytes,
    *,
    sender: EnvelopeSigner,
    sender_id: str,
    recipients: Sequence[tuple[str, SM2PublicKey]],
    content_type: str = "application/octet-stream",
) -> bytes:
    """An envelope of ``payload`` from ``sender`` to every recipient ``(key id, public key)``."""
    out = io.BytesIO()
    seal_stream(
        io.BytesIO(payload),
        out,
        sender=sender,
        sender_id=sender_id,
        recipients=recipients,
        content_type=content_type,
    )
    return out.getvalue()


def open_stream(
    src: BinaryIO,
    dst: BinaryIO,
    *,
    recipient_id: str,
    decrypter: EnvelopeDecrypter,
    trusted_senders: Mapping[str, SM2PublicKey],
    replay: ReplayGuard | None,
    read_size: int = 1 << 20,
) -> Opened:
    """Open an envelope from ``src`` into ``dst``. On any error, discard what ``dst`` got.

    ``trusted_senders`` maps sender key ids to their public keys: an unknown sender is refused.
    ``replay`` should be given for system-to-system traffic; ``None`` skips replay checks.
    """
    first = src.read(_FIXED.size)
    if len(first) < _FIXED.size:
        raise InputError("not an envelope: too short")
    length = _FIXED.unpack_from(first)[2] if first[:4] == MAGIC else 0
    if not _FIXED.size < length <= MAX_HEADER:
        parse_header(first)  # raises the precise reason
        raise InputError("envelope header length is invalid")
    header = parse_header(first + src.read(length - _FIXED.size))
    sender = trusted_senders.get(header.sender_id)
    if sender is None:
        raise VerificationError(f"envelope sender {header.sender_id!r} is not trusted")
    if bytes.fromhex(sender.fingerprint()) != header.sender_fingerprint:
        raise VerificationError("envelope sender key does not match the trusted key")
    entry = next((r for r in header.recipients if r.key_id == recipient_id), None)
    if entry is None:
        raise VerificationError(f"envelope is not addressed to {recipient_id!r}")
    content_key = decrypter.decrypt(entry.wrapped_key)
    if len(content_key) != sm4.KEY_SIZE:
        raise VerificationError("envelope content key has the wrong size")
    hasher = sender.hasher()
    hasher.update(header.raw)
    opener = sm4.Opener(content_key, aad=header.raw)
    tail = b""
    total = 0
    while block := src.read(read_size):
        data = tail + block
        body, tail = data[:-SIGNATURE_SIZE], data[-SIGNATURE_SIZE:]
        hasher.update(body)
        out = opener.update(body)
        total += len(out)
        dst.write(out)
    if len(tail) != SIGNATURE_SIZE:
        raise VerificationError("envelope is truncated (no signature)")
    try:
        signature = signature_from_raw(tail)
    except InputError:
        raise VerificationError("envelope signature does not verify") from None
    sender.verify_hashed(signature, hasher.digest())
    out = opener.finalize()
    dst.write(out)
    if replay is not None:
        replay.check(header.message_id, header.created_ms)
    return Opened(
        b"", header.message_id.hex(), header.created_ms, header.sender_id, header.content_type
    )


def open(
    envelope: bytes,
    *,
    recipient_id: str,
    decrypter: EnvelopeDecrypter,
    trusted_senders: Mapping[str, SM2PublicKey],
    replay: ReplayGuard | None,
) -> Opened:
    """Verify and decrypt a whole envelope in memory; see :func:`open_stream`."""
    out = io.BytesIO()
    opened = open_stream(
        io.BytesIO(envelope),
        out,
        recipient_id=recipient_id,
        decrypter=decrypter,
        trusted_senders=trusted_senders,
        replay=replay,
    )
    return Opened(
        out.getvalue(), opened.message_id, opened.created_ms, opened.sender_id, opened.content_type
    )
