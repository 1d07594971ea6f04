"""Crypto service scenarios: a dataset sealed between departments, and a caller probing keys.

Both start the city's crypto service (``lab.kms``) and leave its audit log for detect
(``crypto.audit``). The sealing day is benign: civil affairs asks the service for a data key,
seals a dataset with it (SM4-GCM, the data key wrapped by the service under the exchange key
with the dataset id as encryption context) and signs the manifest; the tax bureau has the
service unwrap the data key, opens the dataset and verifies the signature — no alert. In the
probing scenario the tax bureau's system, compromised, tries civil affairs' record keys and
presents civil ciphertexts to its own key: each attempt is denied and audited, and
``rules/crypto-service-key-probing.yml`` alerts.
"""

from __future__ import annotations

import base64
import json
from typing import ClassVar

from crypto import sm4
from crypto.service.client import KmsClient
from lab.kms import crypto_service
from lab.scenarios.base import Scenario, Stage
from tulou.errors import PolicyDeniedError, VerificationError

KEY_PROBING = "2f4a3a33-aa87-42f2-b551-8aa905022c41"  # rules/crypto-service-key-probing.yml


def _dataset() -> bytes:
    rows = [
        {"household": f"HH-2026-{n:04d}", "district": "Gulou", "income_band": n % 5}
        for n in range(200)
    ]
    return json.dumps(rows).encode()


class KmsDatasetSealing(Scenario):
    name: ClassVar[str] = "kms-dataset-sealing"
    title: ClassVar[str] = "A department seals a dataset for another through the crypto service"
    techniques: ClassVar[tuple[str, ...]] = ()
    expects: ClassVar[tuple[str, ...]] = ()

    def play(self, stage: Stage) -> None:
        with crypto_service(stage.workdir / "kms-sealing") as (url, tokens, audit):
            with KmsClient(url, tokens["admin"]) as admin:
                admin.create_key("civil/exchange/to-tax", "sm4")
                admin.create_key("civil/exchange/signing", "sm2")
            context = {"dataset": "households-2026", "to": "tax"}
            with KmsClient(url, tokens["civil-affairs"]) as civil:
                data_key = civil.request(
                    "POST", "/v1/keys/civil/exchange/to-tax/generate-data-key", {"context": context}
                )
                sealed = sm4.seal(
                    base64.b64decode(data_key["plaintext"]), _dataset(), aad=b"households-2026"
                )
                manifest = json.dumps({"dataset": "households-2026", "bytes": len(sealed)}).encode()
                signature = civil.sign("civil/exchange/signing", manifest)["signature"]
            with KmsClient(url, tokens["tax"]) as tax:
                unwrapped = tax.decrypt("civil/exchange/to-tax", data_key["ciphertext"], context)
                if sm4.open(unwrapped, sealed, aad=b"households-2026") != _dataset():
                    raise VerificationError("the tax bureau could not open the dataset")
                tax.verify("civil/exchange/signing", manifest, signature)
            stage.artifact(audit, "crypto.audit")
        stage.note(
            f"dataset of {len(sealed)} sealed bytes handed from civil affairs to tax and opened"
        )


class KmsKeyProbing(Scenario):
    name: ClassVar[str] = "kms-key-probing"
    title: ClassVar[str] = "A compromised department system tries keys it may not use"
    techniques: ClassVar[tuple[str, ...]] = ("T1552",)
    expects: ClassVar[tuple[str, ...]] = (KEY_PROBING,)

    def play(self, stage: Stage) -> None:
        refused = 0
        with crypto_service(stage.workdir / "kms-probing") as (url, tokens, audit):
            with KmsClient(url, tokens["admin"]) as admin:
                for name in ("citizens", "benefits", "adoptions"):
                    admin.create_key(f"civil/records/{name}", "sm4")
                admin.create_key("tax/records/returns", "sm4")
            with KmsClient(url, tokens["civil-affairs"]) as civil:
                stolen = civil.encrypt("civil/records/citizens", b"citizen 1")["ciphertext"]
            with KmsClient(url, tokens["tax"]) as tax:
                for name in ("citizens", "benefits", "adoptions"):
                    try:
                        tax.encrypt(f"civil/records/{name}", b"probe")
                    except PolicyDeniedError:
                        refused += 1
                try:
                    tax.decrypt("tax/records/returns", stolen)
                except PolicyDeniedError:
                    refused += 1
            stage.artifact(audit, "crypto.audit")
        if refused != 4:
            raise VerificationError(f"the service refused {refused} of 4 probes")
        stage.note("4 attempts on keys of another department refused and audited")


SCENARIOS: tuple[type[Scenario], ...] = (KmsKeyProbing, KmsDatasetSealing)
