"""The cryptographic inventory: every key and algorithm in use, where, and whether it is SM-series.

Keys are found where the platform names them: the gateway config (server TLS certificate,
device CA, identity-assertion key, envelope keys and peers), the report-signing key, the key
files listed in the sources file, and the algorithms the platform's own records use (the SOC
audit chain's SM3, the backup's declared cipher). The algorithm of a PEM file is read from the
object identifiers in its DER (SM2 curve ``1.2.156.10197.1.301``, rsaEncryption, the NIST
curves, Ed25519): no key is ever decrypted to be listed. Evidence: ``crypto.inventory``.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import yaml

from compliance.evidence import Evidence, excerpt
from compliance.period import Period
from compliance.sources import Sources
from crypto.sm3 import sm3
from tulou.contracts import backup_status
from tulou.errors import InputError

KEYS = ("crypto.inventory",)
SM_SERIES = frozenset({"SM2", "SM3", "SM4", "SM9", "ZUC"})
_OIDS = {
    bytes.fromhex("06082a811ccf5501822d"): "SM2",
    bytes.fromhex("06092a864886f70d010101"): "RSA",
    bytes.fromhex("06082a8648ce3d030107"): "ECDSA-P256",
    bytes.fromhex("06052b81040022"): "ECDSA-P384",
    bytes.fromhex("06032b6570"): "Ed25519",
}
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s+(.*?)-----END \1-----", re.S)


def pem_algorithm(data: bytes) -> str:
    """The public-key algorithm of the first PEM block, from the OIDs in its DER."""
    match = _PEM.search(data)
    if match is None:
        return "unknown"
    if b"ENCRYPTED" in match[1] or b"Proc-Type" in match[2]:
        # Encrypted PKCS#8 hides the key's algorithm; the public half (if beside it) tells.
        return "encrypted"
    try:
        der = base64.b64decode(b"".join(match[2].split()), validate=True)
    except ValueError:
        return "unknown"
    for oid, name in _OIDS.items():
        if oid in der:
            return name
    return "unknown"


def _item(item_id: str, algorithm: str, usage: str, where: str, source: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "algorithm": algorithm,
        "usage": usage,
        "where": where,
        "source": source,
        "sm_series": algorithm in SM_SERIES,
    }


class CryptoInventoryCollector:
    id: str = "crypto"
    keys: tuple[str, ...] = KEYS

    def __init__(self, sources: Sources, *, signing_public_key: Path | None = None) -> None:
        self.sources = sources
        self.signing_public_key = signing_public_key

    def _file(self, item_id: str, path: Path, usage: str, where: str) -> dict[str, Any]:
        try:
            data = path.read_bytes()
        except OSError:
            return _item(item_id, "missing", usage, where, path.name)
        algorithm = pem_algorithm(data)
        if algorithm == "encrypted":
            for public in (path.with_suffix(".pub.pem"), path.with_name(path.stem + ".pub.pem")):
                if public.is_file():
                    algorithm = pem_algorithm(public.read_bytes())
                    break
        item = _item(item_id, algorithm, usage, where, path.name)
        if b"PRIVATE KEY" not in data:  # a public key or certificate: its digest can be given
            item["source_sm3"] = sm3(data).hex()
        return item

    def _gateway(self) -> list[dict[str, Any]]:
        path = self.sources.gateway.config
        if path is None or not path.is_file():
            return []
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        base = path.parent
        found: list[dict[str, Any]] = []

        def add(item_id: str, value: Any, usage: str, where: str) -> None:
            if value:
                found.append(self._file(item_id, base / str(value), usage, where))

        tls = config.get("tls") or {}
        add("gateway-tls-cert", tls.get("cert"), "transport", "gateway: server TLS certificate")
        add(
            "device-ca",
            (config.get("device") or {}).get("ca"),
            "transport",
            "gateway: device CA (client certificates)",
        )
        add(
            "assertion-key",
            (config.get("assertion") or {}).get("key"),
            "signature",
            "gateway: identity assertion (SM2-JWT)",
        )
        envelope = config.get("envelope") or {}
        add(
            "envelope-key",
            envelope.get("private_key"),
            "signature",
            "gateway: envelope signing and unwrapping",
        )
        for peer, peer_path in sorted((envelope.get("peers") or {}).items()):
            add(f"envelope-peer-{peer}", peer_path, "encryption", f"gateway: envelope peer {peer}")
        if envelope:
            found.append(
                _item(
                    "envelope-content",
                    "SM4",
                    "encryption",
                    "gateway: envelope content (SM4-GCM)",
                    path.name,
                )
            )
        return found

    def _backup(self) -> list[dict[str, Any]]:
        path = self.sources.backup.sites
        if path is None or not path.is_file():
            return []
        status = backup_status.load(path)
        href = path.name
        found = []
        if status.cipher:
            found.append(
                _item(
                    "backup-cipher",
                    status.cipher.split("-")[0].upper(),
                    "storage",
                    "backup: blob encryption",
                    href,
                )
            )
        if status.digest:
            found.append(
                _item(
                    "backup-digest",
                    status.digest.upper(),
                    "integrity",
                    "backup: content addressing",
                    href,
                )
            )
        return found

    def collect(self, period: Period) -> list[Evidence]:
        items: list[dict[str, Any]] = []
        problems: list[str] = []
        for reader in (self._gateway, self._backup):
            try:
                items += reader()
            except (OSError, ValueError, yaml.YAMLError, InputError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)  # never a path of this machine
                problems.append(f"{reader.__name__.strip('_')}: {reason}")
        for key in self.sources.keys:
            items.append(self._file(key.path.name, key.path, key.usage, key.where or key.path.name))
        if self.signing_public_key is not None and self.signing_public_key.is_file():
            items.append(
                self._file(
                    "report-signing", self.signing_public_key, "signature", "soc: report signature"
                )
            )
        # The SOC audit chain is SM3 by construction (soc.audit); it is part of what is in use.
        items.append(
            _item("soc-audit-chain", "SM3", "integrity", "soc: audit trail hash chain", "soc:audit")
        )
        non_sm = [i["id"] for i in items if not i["sm_series"]]
        facts = {"items": items, "total": len(items), "non_sm": non_sm, "problems": problems}
        shown = tuple(
            excerpt(
                str(i["id"]),
                str(i["source"]),
                json.dumps(
                    {k: i[k] for k in ("id", "algorithm", "usage", "where")}, ensure_ascii=False
                ),
                source_sm3=str(i.get("source_sm3", "")),
            )
            for i in items
        )
        return [Evidence("crypto.inventory", self.id, "Keys and algorithms in use", facts, shown)]
