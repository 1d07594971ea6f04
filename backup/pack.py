"""Blobs and packs: how chunks and trees are compressed, sealed and grouped into pack files.

A *blob* is one plaintext chunk of file content (type ``data``) or one serialised directory
(type ``tree``). Stored form::

    sealed_blob = SM4-seal(data_key, flag || payload, aad = "tulou-backup/blob/v1" || type || id)

where ``flag`` is 0x00 (payload is the plaintext) or 0x01 (payload is zstd(plaintext)), ``type``
is one byte (0 data, 1 tree) and ``id`` the 32-byte blob id. Binding the id and type into the
associated data means a blob can never be served in place of another, even by someone who
swaps sealed bytes between packs.

A *pack* concatenates sealed blobs, then a sealed header, then the header's length::

    pack = sealed_blob_1 || ... || sealed_blob_n || sealed_header || uint32_le(len(sealed_header))
    header = n x (type u8 || sealed_length u32_le || plaintext_length u32_le || id 32 bytes)

Blob offsets follow from the order. The pack's file name is SM3(pack) in hex.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import zstandard

from backup.keys import REPO_VERSION, MasterKeys
from crypto import sm3, sm4
from tulou.errors import InputError, VerificationError

BLOB_TYPES = {"data": 0, "tree": 1}
BLOB_NAMES = {v: k for k, v in BLOB_TYPES.items()}
_BLOB_AAD = b"tulou-backup/blob/v1"
_HEADER_AAD = b"tulou-backup/pack-header/v1"
_ENTRY = struct.Struct("<BII32s")
_RAW, _ZSTD = 0, 1


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """Where one blob lives: pack, offset and sealed length, plus its plaintext length."""

    blob_id: bytes
    blob_type: str
    pack_id: str
    offset: int
    length: int
    raw_length: int


class BlobCodec:
    """Compresses, seals, opens and verifies blobs under one master key set."""

    def __init__(self, keys: MasterKeys, zstd_level: int = 3, version: int = REPO_VERSION) -> None:
        self._data_key = keys.data_key
        self._id_key = keys.id_key
        self.zstd_level = zstd_level
        self.version = version  # the repository config's: it decides how packs are named
        self._cctx = zstandard.ZstdCompressor(level=zstd_level)
        self._dctx = zstandard.ZstdDecompressor()

    def __repr__(self) -> str:
        return f"BlobCodec(zstd_level={self.zstd_level}, keys=<hidden>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a BlobCodec holds keys: it is never pickled (see backup.parallel)")

    def secrets(self) -> tuple[bytes, bytes, int, int]:
        """(data key, id key, zstd level, version): what a worker needs to rebuild this codec.

        Handed to worker processes in memory only (fork, or the forkserver's socket); never
        written anywhere.
        """
        return self._data_key, self._id_key, self.zstd_level, self.version

    @classmethod
    def from_secrets(
        cls, data_key: bytes, id_key: bytes, zstd_level: int, version: int
    ) -> BlobCodec:
        codec = cls.__new__(cls)
        codec._data_key, codec._id_key, codec.zstd_level = data_key, id_key, zstd_level
        codec.version = version
        codec._cctx = zstandard.ZstdCompressor(level=zstd_level)
        codec._dctx = zstandard.ZstdDecompressor()
        return codec

    def blob_id(self, plaintext: bytes) -> bytes:
        """The 32-byte id of a blob: HMAC-SM3(id_key, plaintext)."""
        return sm3.hmac_sm3(self._id_key, plaintext)

    def pack_name(self, data: bytes) -> str:
        """The name a pack with this content has in this repository (:func:`pack_name`)."""
        return pack_name(data, self.version)

    def blob_ids(self, plaintexts: Sequence[bytes]) -> list[bytes]:
        """The ids of many blobs at once (equal to :meth:`blob_id` of each).

        HMAC-SM3 over a batch runs the native multi-buffer code (several messages hashed side
        by side) where the CPU has it, which is several times faster than one at a time.
        """
        return sm3.hmac_sm3_many(self._id_key, plaintexts)

    def seal(self, blob_type: str, blob_id: bytes, plaintext: bytes) -> bytes:
        packed = self._cctx.compress(plaintext)
        body = bytes([_ZSTD]) + packed if len(packed) < len(plaintext) else b"\0" + plaintext
        return sm4.seal(self._data_key, body, aad=_aad(blob_type, blob_id))

    def open(self, blob_type: str, blob_id: bytes, sealed: bytes) -> bytes:
        """Decrypt, decompress and check the id; :class:`VerificationError` on any mismatch."""
        plaintext = self.unseal(blob_type, blob_id, sealed)
        if not hmac.compare_digest(self.blob_id(plaintext), blob_id):
            raise VerificationError(f"blob {blob_id.hex()[:16]} does not match its id")
        return plaintext

    def open_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes | str]:
        """:meth:`open` each (blob type, blob id, sealed) item, the ids checked as one batch.

        Each result is the plaintext, or the :class:`VerificationError` message of that blob
        (the others still open): the same checks, in the same order, as :meth:`open`.
        """
        out: list[bytes | str] = []
        for blob_type, blob_id, sealed in items:
            try:
                out.append(self.unseal(blob_type, blob_id, sealed))
            except VerificationError as exc:
                out.append(str(exc))
        opened = [(i, r) for i, r in enumerate(out) if isinstance(r, bytes)]
        ids = self.blob_ids([r for _, r in opened])
        for (i, _), got in zip(opened, ids, strict=True):
            want = items[i][1]
            if not hmac.compare_digest(got, want):
                out[i] = f"blob {want.hex()[:16]} does not match its id"
        return out

    def unseal(self, blob_type: str, blob_id: bytes, sealed: bytes) -> bytes:
        """Decrypt and decompress, WITHOUT the id check: callers check ids (:meth:`open_many`)."""
        try:
            body = sm4.open(self._data_key, sealed, aad=_aad(blob_type, blob_id))
        except (VerificationError, InputError) as exc:
            raise VerificationError(f"{blob_type} blob {blob_id.hex()[:16]} is damaged") from exc
        if not body or body[0] not in (_RAW, _ZSTD):
            raise VerificationError(f"blob {blob_id.hex()[:16]} has an unknown encoding")
        if body[0] == _ZSTD:
            try:
                plaintext = self._dctx.decompress(body[1:])
            except zstandard.ZstdError as exc:
                raise VerificationError(f"blob {blob_id.hex()[:16]} does not decompress") from exc
        else:
            plaintext = body[1:]
        return plaintext

    def seal_header(self, entries: list[tuple[str, bytes, int, int]]) -> bytes:
        raw = b"".join(
            _ENTRY.pack(BLOB_TYPES[t], length, raw_len, bid) for t, bid, length, raw_len in entries
        )
        sealed = sm4.seal(self._data_key, raw, aad=_HEADER_AAD)
        return sealed + struct.pack("<I", len(sealed))

    def read_header(self, pack_id: str, pack: bytes) -> list[BlobEntry]:
        """Parse a whole pack's header (used by verify)."""
        if len(pack) < 4:
            raise VerificationError(f"pack {pack_id[:16]} is truncated")
        (hlen,) = struct.unpack("<I", pack[-4:])
        if hlen + 4 > len(pack):
            raise VerificationError(f"pack {pack_id[:16]} has an impossible header length")
        return self.parse_header(pack_id, pack[-4 - hlen : -4], len(pack))

    def parse_header(self, pack_id: str, sealed: bytes, pack_size: int) -> list[BlobEntry]:
        """Open a pack's sealed header (its last ``4 + len(sealed)`` bytes but the length).

        The entries MUST cover exactly the bytes before the header: a header from another
        pack, or a pack cut short, is refused. Index rebuilds read only the header this way.
        """
        try:
            raw = sm4.open(self._data_key, sealed, aad=_HEADER_AAD)
        except (VerificationError, InputError) as exc:
            raise VerificationError(f"pack {pack_id[:16]}: header is damaged") from exc
        if len(raw) % _ENTRY.size:
            raise VerificationError(f"pack {pack_id[:16]}: header has a partial entry")
        entries, offset = [], 0
        for type_code, length, raw_len, bid in _ENTRY.iter_unpack(raw):
            if type_code not in BLOB_NAMES:
                raise VerificationError(f"pack {pack_id[:16]}: unknown blob type {type_code}")
            entries.append(BlobEntry(bid, BLOB_NAMES[type_code], pack_id, offset, length, raw_len))
            offset += length
        if offset != pack_size - 4 - len(sealed):
            raise VerificationError(f"pack {pack_id[:16]}: header does not cover the blobs")
        return entries


#: Version 2 pack names hash the pack in pieces of this many bytes (the last one shorter).
PACK_PIECE = 256 << 10
_PACK_NAME_LABEL = b"tulou-backup/pack-name/v2"


def pack_name(data: bytes, version: int) -> str:
    """The name of a pack with content ``data`` in a repository of config ``version``.

    Version 1: ``SM3(pack)``. Version 2: a tree hash in the manner of NIST SP 800-185's
    ParallelHash, so the pieces can be hashed side by side (multi-buffer SM3)::

        SM3(label || u64be(len(pack)) || u32be(PACK_PIECE) || SM3(piece_0) || ... || SM3(piece_n-1))

    with ``label = "tulou-backup/pack-name/v2"`` and the pieces the consecutive
    ``PACK_PIECE``-byte slices of the pack. Fixed-size pieces and the length in the root input
    make the piece list, and so the content, determined by the name, given that SM3 is
    collision resistant.
    """
    if version == 1:
        return sm3.sm3(data).hex()
    view = memoryview(data)
    # Slices of one memoryview: the pieces are hashed in place, never copied.
    pieces = cast(list[bytes], [view[i : i + PACK_PIECE] for i in range(0, len(view), PACK_PIECE)])
    leaves = sm3.sm3_many(pieces)
    root = _PACK_NAME_LABEL + struct.pack(">QI", len(view), PACK_PIECE) + b"".join(leaves)
    return sm3.sm3(root).hex()


def _aad(blob_type: str, blob_id: bytes) -> bytes:
    return _BLOB_AAD + bytes([BLOB_TYPES[blob_type]]) + blob_id


type PackItem = tuple[str, bytes, bytes]  # (blob type, blob id, plaintext)


class PackWriter:
    """Accumulates blobs until the pack is big enough; sealing happens when the pack is built.

    ``full`` counts plaintext bytes. ``take`` hands the buffered blobs over (so a worker
    process can build the pack with :func:`build_pack`); ``finish`` builds it here.
    """

    def __init__(self, codec: BlobCodec, target_size: int = 16 << 20) -> None:
        self.codec = codec
        self.target_size = target_size
        self._items: list[PackItem] = []
        self._size = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return self._size >= self.target_size

    def add(self, blob_type: str, blob_id: bytes, plaintext: bytes) -> None:
        self._items.append((blob_type, blob_id, plaintext))
        self._size += len(plaintext)

    def take(self) -> list[PackItem]:
        """The buffered blobs, in order; the writer is empty afterwards."""
        items, self._items, self._size = self._items, [], 0
        return items

    def finish(self) -> tuple[str, bytes, list[BlobEntry]]:
        """Return (pack id, pack bytes, entries) and reset the writer."""
        return build_pack(self.codec, self.take())


def build_pack(codec: BlobCodec, items: list[PackItem]) -> tuple[str, bytes, list[BlobEntry]]:
    """Seal every blob, append the sealed header; return (pack id = SM3(pack), pack, entries)."""
    parts: list[bytes] = []
    header: list[tuple[str, bytes, int, int]] = []
    for blob_type, blob_id, plaintext in items:
        sealed = codec.seal(blob_type, blob_id, plaintext)
        parts.append(sealed)
        header.append((blob_type, blob_id, len(sealed), len(plaintext)))
    parts.append(codec.seal_header(header))
    data = b"".join(parts)
    pack_id = codec.pack_name(data)
    entries, offset = [], 0
    for blob_type, bid, length, raw_len in header:
        entries.append(BlobEntry(bid, blob_type, pack_id, offset, length, raw_len))
        offset += length
    return pack_id, data, entries
