"""The one file format of the homomorphic statistics: a signed header and a list of blobs.

Everything a department, the platform or a combiner exchanges (public key set, ceremony
messages, ciphertext columns, aggregation results, decryption shares) is one container::

    "TLHE" | version 0x01 | u32 H (big-endian) | H bytes: header, canonical JSON | frame

``frame`` is the bridge's list of blobs (u32 count, then u64 length + bytes each,
little-endian; the Lattigo objects inside are Lattigo's MarshalBinary encodings). The
header always holds ``kind``, ``keyset`` (the key set id, hex), ``preset``, ``frame_sm3``
(hex SM3 of the frame) and, when signed, ``signer`` (a party name) and ``signature`` (hex
``r || s``, SM2 with the default ID over the canonical header without ``signature``). So a
signature covers every byte of the payload. Readers check sizes before reading and refuse
anything malformed, oversized or of another kind or key set.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from crypto.he import _bridge
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from crypto.sm3 import sm3
from tulou.errors import InputError, VerificationError

MAGIC: Final = b"TLHE"
VERSION: Final = 1
MAX_HEADER: Final = 1 << 20
#: Default upper bound of a container (an upload): 1M values of a 3-department bench fit.
MAX_BYTES: Final = 1 << 30


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Container:
    header: dict[str, Any]
    blobs: list[bytes] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return str(self.header["kind"])

    @property
    def keyset(self) -> str:
        return str(self.header["keyset"])

    def digest(self) -> str:
        """Hex SM3 of the whole encoded container: how records name an input."""
        return sm3(self.encode()).hex()

    def encode(self) -> bytes:
        head = canonical(self.header)
        return MAGIC + bytes([VERSION]) + struct.pack(">I", len(head)) + head + self._frame()

    def _frame(self) -> bytes:
        return _bridge.frame(self.blobs)

    def signed(self, signer: str, key: SM2PrivateKey) -> Container:
        header = {k: v for k, v in self.header.items() if k != "signature"}
        header["signer"] = signer
        header["frame_sm3"] = sm3(self._frame()).hex()
        signature = key.sign_raw(canonical(header)).hex()
        return Container({**header, "signature": signature}, self.blobs)

    def verify(self, trusted: dict[str, SM2PublicKey]) -> str:
        """Check the signature against the named signer's key; return the signer."""
        signer = self.header.get("signer")
        signature = self.header.get("signature")
        if not isinstance(signer, str) or not isinstance(signature, str):
            raise VerificationError(f"the {self.kind} container is not signed")
        if signer not in trusted:
            raise VerificationError(f"{signer!r} is not a party of this key set")
        body = {k: v for k, v in self.header.items() if k != "signature"}
        try:
            raw = bytes.fromhex(signature)
        except ValueError:
            raise VerificationError("malformed signature") from None
        trusted[signer].verify_raw(raw, canonical(body))
        return signer


def make(kind: str, keyset: str, preset: str, blobs: list[bytes], **fields: Any) -> Container:
    header = {"kind": kind, "keyset": keyset, "preset": preset, **fields}
    header["frame_sm3"] = sm3(_bridge.frame(blobs)).hex()
    return Container(header, blobs)


def decode(
    data: bytes,
    *,
    kind: str | tuple[str, ...] | None = None,
    keyset: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> Container:
    """Parse and check a container; :class:`InputError` for anything malformed."""
    if len(data) > max_bytes:
        raise InputError(f"upload of {len(data)} bytes is over the limit of {max_bytes}")
    if len(data) < 9 or data[:4] != MAGIC:
        raise InputError("not a Tulou HE container (bad magic)")
    if data[4] != VERSION:
        raise InputError(f"unsupported HE container version {data[4]}")
    (size,) = struct.unpack_from(">I", data, 5)
    if size > MAX_HEADER or 9 + size > len(data):
        raise InputError("HE container header is truncated or too large")
    try:
        header = json.loads(data[9 : 9 + size])
    except ValueError:
        raise InputError("HE container header is not JSON") from None
    if not isinstance(header, dict) or not all(
        isinstance(header.get(k), str) for k in ("kind", "keyset", "preset", "frame_sm3")
    ):
        raise InputError("HE container header lacks kind/keyset/preset/frame_sm3")
    body = data[9 + size :]
    if sm3(body).hex() != header["frame_sm3"]:
        raise InputError("HE container payload does not match its header digest")
    try:
        blobs = _bridge.unframe(body)
    except _bridge.BridgeError as exc:
        raise InputError(f"HE container payload: {exc}") from None
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds is not None and header["kind"] not in kinds:
        raise InputError(f"expected a {' or '.join(kinds)} container, got {header['kind']!r}")
    if keyset is not None and header["keyset"] != keyset:
        raise InputError(
            f"container is for key set {header['keyset'][:16]}…, not {keyset[:16]}… "
            "(a ciphertext under another key)"
        )
    return Container(header, blobs)
