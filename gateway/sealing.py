"""System-to-system sealing of HTTP bodies with the crypto envelope (SM2 signature + SM4).

The sending gateway seals the request body to the peer gateway; the peer verifies the sender's
signature against its configured peers, rejects replays (message id + age window) and forwards
plaintext to its app; the response travels back sealed the other way.

The envelope protects bytes, not the request around them, so the sealed payload binds the
request it belongs to (an envelope replayed onto another method or path is refused)::

    payload = b"TLRQ" || uint32 big-endian length of B || B || body
    B       = UTF-8 JSON {"m": method, "p": canonical path, "ct": original content type}
              (responses: {"s": status, "ct": content type, "rq": request message id})

The envelope's own content type is ``application/tulou-envelope`` on the wire.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto import envelope
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from tulou.errors import ConfigError, InputError, TulouError, VerificationError

CONTENT_TYPE = "application/tulou-envelope"
_MAGIC = b"TLRQ"
_LEN = struct.Struct(">I")
_MAX_BINDING = 8192


def _wrap(binding: dict[str, Any], body: bytes) -> bytes:
    data = json.dumps(binding, separators=(",", ":"), sort_keys=True).encode()
    return _MAGIC + _LEN.pack(len(data)) + data + body


def _unwrap(payload: bytes) -> tuple[dict[str, Any], bytes]:
    if payload[:4] != _MAGIC or len(payload) < 8:
        raise VerificationError("sealed payload lacks its request binding")
    (size,) = _LEN.unpack(payload[4:8])
    if size > _MAX_BINDING or len(payload) < 8 + size:
        raise VerificationError("sealed payload binding is malformed")
    try:
        binding = json.loads(payload[8 : 8 + size])
    except ValueError:
        raise VerificationError("sealed payload binding is not JSON") from None
    if not isinstance(binding, dict):
        raise VerificationError("sealed payload binding is not an object")
    return binding, payload[8 + size :]


@dataclass(frozen=True)
class Unsealed:
    body: bytes
    content_type: str
    sender: str
    message_id: str
    binding: dict[str, Any]


class Sealer:
    """This gateway's envelope identity: its SM2 key, its name, and the peers it trusts."""

    def __init__(
        self, name: str, key: SM2PrivateKey, peers: dict[str, SM2PublicKey], max_age: float
    ) -> None:
        self.name = name
        self.key = key
        self.peers = peers
        self.replay = envelope.MemoryReplayGuard(window=max_age)

    @classmethod
    def from_files(
        cls, name: str, private_key: Path, peers: dict[str, Path], max_age: float
    ) -> Sealer:
        try:
            key = SM2PrivateKey.from_pem(private_key.read_bytes())
            trusted = {peer: SM2PublicKey.from_pem(p.read_bytes()) for peer, p in peers.items()}
        except (OSError, TulouError) as exc:
            raise ConfigError(f"envelope keys: {exc}") from None
        return cls(name, key, trusted, max_age)

    def seal(self, binding: dict[str, Any], body: bytes, to: str) -> bytes:
        peer = self.peers.get(to)
        if peer is None:
            raise ConfigError(f"no envelope peer {to!r}")
        return envelope.seal(
            _wrap(binding, body),
            sender=self.key,
            sender_id=self.name,
            recipients=[(to, peer)],
            content_type=CONTENT_TYPE,
        )

    def open(self, sealed: bytes, *, from_peer: str | None = None) -> Unsealed:
        """Verify (trusted sender, signature, freshness, replay) and decrypt.

        Raises :class:`VerificationError` (incl. ``ReplayError``) or :class:`InputError`.
        """
        trusted = self.peers if from_peer is None else {from_peer: self.peers[from_peer]}
        try:
            opened = envelope.open(
                sealed,
                recipient_id=self.name,
                decrypter=self.key,
                trusted_senders=trusted,
                replay=self.replay,
            )
        except InputError as exc:
            raise VerificationError(f"envelope malformed: {exc.message}") from None
        binding, body = _unwrap(opened.payload)
        return Unsealed(
            body=body,
            content_type=str(binding.get("ct") or ""),
            sender=opened.sender_id,
            message_id=opened.message_id,
            binding=binding,
        )
