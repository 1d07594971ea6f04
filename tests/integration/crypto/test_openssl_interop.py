"""Interoperability with the ``openssl`` command (OpenSSL 3), in both directions.

OpenSSL 3 signs SM2 with an EMPTY distinguishing ID unless told ``distid:1234567812345678``;
the tests pass it explicitly, and also check the empty-ID convention against ``uid=b""``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from crypto import sm4
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from crypto.sm3 import hmac_sm3, sm3
from tulou.errors import VerificationError

pytestmark = pytest.mark.openssl

DISTID = "distid:1234567812345678"
Ours = tuple[SM2PrivateKey, Path, Path]
Theirs = tuple[Path, Path]
PASS_ENV = {"TULOU_TEST_PASS": "interop passphrase"}


def openssl(*args: str | Path, stdin: bytes | None = None, check: bool = True) -> bytes:
    exe = shutil.which("openssl")
    if exe is None:
        pytest.fail("the openssl command is required (scripts/debian-packages.txt)")
    proc = subprocess.run(
        [exe, *map(str, args)],
        input=stdin,
        capture_output=True,
        env={**os.environ, **PASS_ENV},
        timeout=60,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"openssl {' '.join(map(str, args))} failed: {proc.stderr.decode()}")
    return proc.stdout if check else proc.stdout + proc.stderr + bytes([proc.returncode])


@pytest.fixture
def ours(tmp_path: Path) -> tuple[SM2PrivateKey, Path, Path]:
    key = SM2PrivateKey.generate()
    (tmp_path / "ours.pem").write_bytes(key.to_pem())
    (tmp_path / "ours.pub.pem").write_bytes(key.public_key().to_pem())
    return key, tmp_path / "ours.pem", tmp_path / "ours.pub.pem"


@pytest.fixture
def theirs(tmp_path: Path) -> tuple[Path, Path]:
    openssl("genpkey", "-algorithm", "SM2", "-out", tmp_path / "theirs.pem")
    openssl("pkey", "-in", tmp_path / "theirs.pem", "-pubout", "-out", tmp_path / "theirs.pub")
    return tmp_path / "theirs.pem", tmp_path / "theirs.pub"


def test_our_signature_verifies_in_openssl(ours: Ours, tmp_path: Path) -> None:
    key, _, pub = ours
    message = tmp_path / "m"
    message.write_bytes(b"signed by tulou\n")
    (tmp_path / "sig").write_bytes(key.sign(message.read_bytes()))
    out = openssl(
        "dgst", "-sm3", "-verify", pub, "-sigopt", DISTID, "-signature", tmp_path / "sig", message
    )
    assert b"Verified OK" in out
    # And a tampered message fails in openssl too (the check can fail).
    message.write_bytes(b"signed by tulou?\n")
    failed = openssl(
        "dgst",
        "-sm3",
        "-verify",
        pub,
        "-sigopt",
        DISTID,
        "-signature",
        tmp_path / "sig",
        message,
        check=False,
    )
    assert b"Verification failure" in failed


def test_openssl_signature_verifies_in_ours(theirs: Theirs, tmp_path: Path) -> None:
    priv, pub_path = theirs
    message = tmp_path / "m"
    message.write_bytes(b"signed by openssl")
    openssl("dgst", "-sm3", "-sign", priv, "-sigopt", DISTID, "-out", tmp_path / "s", message)
    pub = SM2PublicKey.from_pem(pub_path.read_bytes())
    pub.verify((tmp_path / "s").read_bytes(), b"signed by openssl")
    with pytest.raises(VerificationError):
        pub.verify((tmp_path / "s").read_bytes(), b"signed by openssl", uid=b"")


def test_openssl_default_empty_id_matches_uid_empty(theirs: Theirs, tmp_path: Path) -> None:
    priv, pub_path = theirs
    message = tmp_path / "m"
    message.write_bytes(b"no distid")
    openssl("dgst", "-sm3", "-sign", priv, "-out", tmp_path / "s", message)
    SM2PublicKey.from_pem(pub_path.read_bytes()).verify(
        (tmp_path / "s").read_bytes(), b"no distid", uid=b""
    )


def test_openssl_encryption_decrypts_in_ours_and_back(ours: Ours, tmp_path: Path) -> None:
    key, priv, pub = ours
    (tmp_path / "pt").write_bytes(b"content key: 0123456789abcdef")
    openssl(
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        pub,
        "-in",
        tmp_path / "pt",
        "-out",
        tmp_path / "ct",
    )
    assert key.decrypt((tmp_path / "ct").read_bytes()) == b"content key: 0123456789abcdef"
    (tmp_path / "ct2").write_bytes(key.public_key().encrypt(b"from tulou"))
    assert openssl("pkeyutl", "-decrypt", "-inkey", priv, "-in", tmp_path / "ct2") == b"from tulou"


def test_sm4_cbc_with_openssl_enc_both_ways(tmp_path: Path) -> None:
    key, iv = sm4.generate_key(), os.urandom(16)
    data = os.urandom(1000)
    (tmp_path / "pt").write_bytes(data)
    openssl(
        "enc",
        "-sm4-cbc",
        "-K",
        key.hex(),
        "-iv",
        iv.hex(),
        "-in",
        tmp_path / "pt",
        "-out",
        tmp_path / "ct",
    )
    assert sm4.cbc_decrypt(key, iv + (tmp_path / "ct").read_bytes()) == data
    (tmp_path / "ours").write_bytes(sm4.cbc_encrypt(key, data, iv=iv)[16:])
    back = openssl(
        "enc", "-d", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), "-in", tmp_path / "ours"
    )
    assert back == data


def test_sm4_ctr_and_sm3_and_hmac_match_openssl(tmp_path: Path) -> None:
    key, counter, data = sm4.generate_key(), os.urandom(16), os.urandom(777)
    (tmp_path / "pt").write_bytes(data)
    theirs = openssl(
        "enc", "-sm4-ctr", "-K", key.hex(), "-iv", counter.hex(), "-in", tmp_path / "pt"
    )
    assert sm4.ctr_encrypt(key, data, counter=counter)[16:] == theirs
    assert openssl("dgst", "-sm3", "-binary", tmp_path / "pt") == sm3(data)
    mac = openssl(
        "mac",
        "-digest",
        "SM3",
        "-macopt",
        f"hexkey:{key.hex()}",
        "-binary",
        "-in",
        tmp_path / "pt",
        "HMAC",
    )
    assert mac == hmac_sm3(key, data)


def test_keys_load_both_ways(ours: Ours, theirs: Theirs, tmp_path: Path) -> None:
    key, priv, _ = ours
    their_priv, their_pub = theirs
    loaded = SM2PrivateKey.from_pem(their_priv.read_bytes())
    assert loaded.public_key() == SM2PublicKey.from_pem(their_pub.read_bytes())
    # openssl reads our PEM and derives the same public key.
    assert openssl("pkey", "-in", priv, "-pubout") == key.public_key().to_pem()
    # Encrypted PKCS#8 both ways (passphrase via the environment, never argv).
    (tmp_path / "enc.pem").write_bytes(
        key.to_pem(PASS_ENV["TULOU_TEST_PASS"].encode(), iterations=2048)
    )
    out = openssl("pkey", "-in", tmp_path / "enc.pem", "-passin", "env:TULOU_TEST_PASS", "-pubout")
    assert out == key.public_key().to_pem()
    openssl(
        "pkcs8",
        "-topk8",
        "-v2",
        "sm4-cbc",
        "-in",
        their_priv,
        "-passout",
        "env:TULOU_TEST_PASS",
        "-out",
        tmp_path / "their-enc.pem",
    )
    again = SM2PrivateKey.from_pem(
        (tmp_path / "their-enc.pem").read_bytes(), PASS_ENV["TULOU_TEST_PASS"].encode()
    )
    assert again.public_key() == loaded.public_key()
    # DER forms too.
    der = openssl("pkey", "-in", their_priv, "-outform", "DER")
    assert SM2PrivateKey.from_der(der).public_key() == loaded.public_key()
    pub_der = openssl("pkey", "-in", their_priv, "-pubout", "-outform", "DER")
    assert SM2PublicKey.from_der(pub_der) == loaded.public_key()
