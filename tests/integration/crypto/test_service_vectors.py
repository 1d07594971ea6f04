"""Published vectors through the service: the GB/T 32918.5-2017 Annex A and C key pair,
imported (wrapped to the import key), verifies the standard's signature and decrypts the
standard's ciphertext over HTTP."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from crypto.kmskeystore import KmsKeyStore
from crypto.service.client import KmsClient
from crypto.sm2 import SM2PrivateKey, signature_from_raw
from tests.unit.crypto.test_sm2 import STD_CIPHERTEXT, STD_D, STD_E, STD_POINT, STD_R, STD_S
from tulou.errors import VerificationError

Make = Callable[[str], KmsClient]


def test_gbt_32918_5_vectors_through_the_service(client_for: Make) -> None:
    admin = client_for("admin")
    store = KmsKeyStore(admin, "hr", "records")
    store.import_key("gbt32918-5", SM2PrivateKey.from_private_bytes(STD_D))
    key = "hr/records/gbt32918-5"
    assert store.public_key("gbt32918-5").point == STD_POINT
    hr = client_for("hr-app")
    standard = base64.b64encode(signature_from_raw(bytes.fromhex(STD_R + STD_S))).decode()
    # Annex A: the message "message digest", default ID; and the same as a digest e.
    assert hr.verify(key, b"message digest", standard)["valid"]
    out = hr.request(
        "POST",
        hr.key_url(key) + "/verify",
        {"digest": base64.b64encode(bytes.fromhex(STD_E)).decode(), "signature": standard},
    )
    assert out["valid"]
    with pytest.raises(VerificationError, match="signature-invalid"):
        hr.verify(key, b"message digesT", standard)
    # Annex C: the standard's ciphertext of "encryption standard" decrypts in the service.
    plain = KmsKeyStore(hr, "hr", "records").decrypter("gbt32918-5").decrypt(STD_CIPHERTEXT)
    assert plain == b"encryption standard"
    record = admin.request("GET", admin.key_url(key))
    assert (
        record["versions"][0]["origin"] == "imported" and record["history"][0]["action"] == "import"
    )
