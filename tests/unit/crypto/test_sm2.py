"""SM2 on the native backend: published vectors, gmssl cross-checks, round trips and tampering."""

from __future__ import annotations

import pytest
from gmssl import sm2 as gm_sm2  # test-only independent (pure Python) implementation
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import _der, sm2
from crypto.sm2 import DEFAULT_UID, SM2PrivateKey, SM2PublicKey, compute_z
from tulou.errors import InputError, UsageError, VerificationError

# GB/T 32918.5-2017 (= GM/T 0003.5-2012) Annex A: signature example on the recommended curve,
# ID "1234567812345678", message "message digest".
STD_D = bytes.fromhex(
    "3945208F7B2144B13F36E38AC6D39F958893936928 60B51A42FB81EF4DF7C5B8".replace(" ", "")
)
STD_POINT = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
STD_E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
STD_K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
STD_R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
STD_S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
# GB/T 32918.5-2017 Annex C: encryption example, message "encryption standard", same key pair
# and k, as the GM/T 0009 DER of C1 (x, y), C3, C2.
STD_CIPHERTEXT = bytes.fromhex(
    "307c"
    "022004EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
    "022100E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
    "042059983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"
    "041321886CA989CA9C7D58087307CA93092D651EFA"
)

# GB/T 32918.2-2016 Annex A (the Fp-256 example curve, not the recommended one): Z_A for
# ID "ALICE123@YAHOO.COM", e for "message digest", and (r, s) with the standard's k.
EX_P = int("8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3", 16)
EX_A = int("787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498", 16)
EX_B = int("63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A", 16)
EX_GX = int("421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D", 16)
EX_GY = int("0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2", 16)
EX_N = "8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7"
EX_D = "128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263"
EX_POINT = bytes.fromhex(
    "04"
    "0AE4C7798AA0F119471BEE11825BE46202BB79E2A5844495E97C04FF4DF2548A"
    "7C0240F88F1CD4E16352A73C17B7F16F07353E53A176D684A9FE0C6BB798E857"
)
EX_ZA = "F4A38489E32B45B6F876E3AC2168CA392362DC8F23459C1D1146FC3DBFB7BC9A"
EX_E = "B524F552CD82B8B028476E005C377FB19A87E6FC682D48BB5D42E3D9B9EFFE76"
EX_K = "6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F"
EX_R = "40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1"
EX_S = "6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7"


@pytest.fixture(scope="module")
def key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


@pytest.fixture(scope="module")
def std_key() -> SM2PrivateKey:
    return SM2PrivateKey.from_private_bytes(STD_D)


def test_gbt_32918_2_annex_a_z_and_e_on_the_example_curve() -> None:
    from crypto.sm3 import sm3

    curve = (EX_A, EX_B, EX_GX, EX_GY)
    za = compute_z(EX_POINT, b"ALICE123@YAHOO.COM", curve=curve)
    assert za.hex().upper() == EX_ZA
    assert sm3(za + b"message digest").hex().upper() == EX_E


def test_gbt_32918_2_annex_a_signature_with_the_standards_k() -> None:
    """gmssl (independent) on the example curve, fed our e and the standard's k, gives (r, s)."""
    table = {
        "n": EX_N,
        "p": f"{EX_P:064X}",
        "g": f"{EX_GX:064X}{EX_GY:064X}",
        "a": f"{EX_A:064X}",
        "b": f"{EX_B:064X}",
    }
    ref = gm_sm2.CryptSM2(private_key=EX_D, public_key=EX_POINT[1:].hex(), ecc_table=table)
    assert ref.sign(bytes.fromhex(EX_E), EX_K).upper() == EX_R + EX_S
    assert ref.verify(EX_R + EX_S, bytes.fromhex(EX_E))


def test_gbt_32918_5_signature_example(std_key: SM2PrivateKey) -> None:
    pub = std_key.public_key()
    assert pub.point == STD_POINT  # the native backend derived the standard's public key
    assert pub.digest(b"message digest").hex().upper() == STD_E
    pub.verify_raw(bytes.fromhex(STD_R + STD_S), b"message digest")
    # The standard's k reproduces the standard's (r, s) in the independent implementation.
    ref = gm_sm2.CryptSM2(private_key=STD_D.hex(), public_key=STD_POINT[1:].hex())
    assert ref.sign(bytes.fromhex(STD_E), STD_K).upper() == STD_R + STD_S
    # Our own signatures on the standard key verify (k is random, so r, s differ).
    signature = std_key.sign(b"message digest")
    pub.verify(signature, b"message digest")
    with pytest.raises(VerificationError):
        pub.verify_raw(bytes.fromhex(STD_R + STD_S), b"message digesT")


def test_gbt_32918_5_encryption_example(std_key: SM2PrivateKey) -> None:
    assert std_key.decrypt(STD_CIPHERTEXT) == b"encryption standard"
    tampered = bytearray(STD_CIPHERTEXT)
    tampered[80] ^= 1  # inside C3
    with pytest.raises(VerificationError):
        std_key.decrypt(bytes(tampered))


@settings(max_examples=15, deadline=None)
@given(data=st.binary(max_size=300), uid=st.binary(max_size=40))
def test_sign_verify_round_trip(key: SM2PrivateKey, data: bytes, uid: bytes) -> None:
    pub = key.public_key()
    pub.verify(key.sign(data, uid=uid), data, uid=uid)
    raw = key.sign_raw(data, uid=uid)
    assert len(raw) == 64
    pub.verify_raw(raw, data, uid=uid)
    assert sm2.signature_to_raw(sm2.signature_from_raw(raw)) == raw


def test_the_id_is_part_of_the_signature(key: SM2PrivateKey) -> None:
    signature = key.sign(b"payload")
    key.public_key().verify(signature, b"payload", uid=DEFAULT_UID)
    with pytest.raises(VerificationError):
        key.public_key().verify(signature, b"payload", uid=b"")
    with pytest.raises(VerificationError):
        SM2PrivateKey.generate().public_key().verify(signature, b"payload")


def test_every_bit_flip_in_a_signature_is_rejected(key: SM2PrivateKey) -> None:
    pub = key.public_key()
    for form, verify in ((key.sign(b"m"), pub.verify), (key.sign_raw(b"m"), pub.verify_raw)):
        for i in range(len(form) * 8):
            flipped = bytearray(form)
            flipped[i // 8] ^= 1 << (i % 8)
            with pytest.raises(VerificationError):
                verify(bytes(flipped), b"m")


@settings(max_examples=15, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_encrypt_decrypt_round_trip(key: SM2PrivateKey, data: bytes) -> None:
    ct = key.public_key().encrypt(data)
    assert key.decrypt(ct) == data


def test_every_bit_flip_in_a_ciphertext_is_rejected(key: SM2PrivateKey) -> None:
    ct = key.public_key().encrypt(b"content key 1234")
    for i in range(len(ct) * 8):
        flipped = bytearray(ct)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(VerificationError):
            key.decrypt(bytes(flipped))
    with pytest.raises(VerificationError):
        SM2PrivateKey.generate().decrypt(ct)
    with pytest.raises(UsageError):
        key.public_key().encrypt(b"")


def _gmssl_usable(point: bytes) -> bool:
    # gmssl strips leading "0"/"4" hex digits of a key given without the 04 prefix (its
    # lstrip("04") bug), so only keys whose x does not start with them can be cross-checked.
    return point[1:].hex()[0] not in "04"


def _gmssl_pair() -> SM2PrivateKey:
    while True:
        candidate = SM2PrivateKey.generate()
        if _gmssl_usable(candidate.public_key().point):
            return candidate


def _scalar(key: SM2PrivateKey) -> str:
    # PKCS#8 DER of an SM2 key from OpenSSL: the 32-byte scalar follows "04 20" in ECPrivateKey.
    der = key.to_der()
    at = der.index(bytes.fromhex("0201010420")) + 5
    return der[at : at + 32].hex()


def test_cross_check_signatures_with_gmssl() -> None:
    key = _gmssl_pair()
    ref = gm_sm2.CryptSM2(private_key=_scalar(key), public_key=key.public_key().point[1:].hex())
    ours = key.sign_raw(b"cross-check").hex()
    assert ref.verify_with_sm3(ours, b"cross-check")
    theirs = ref.sign_with_sm3(b"cross-check")
    key.public_key().verify_raw(bytes.fromhex(theirs), b"cross-check")


def test_cross_check_encryption_with_gmssl() -> None:
    key = _gmssl_pair()
    ref = gm_sm2.CryptSM2(
        private_key=_scalar(key), public_key=key.public_key().point[1:].hex(), mode=1
    )
    raw = ref.encrypt(b"from gmssl")  # x || y || C3 || C2, no 04 prefix
    der = _der.sequence(
        _der.integer(int.from_bytes(raw[:32], "big")),
        _der.integer(int.from_bytes(raw[32:64], "big")),
        _der.tlv(_der.OCTET_STRING, raw[64:96]),
        _der.tlv(_der.OCTET_STRING, raw[96:]),
    )
    assert key.decrypt(der) == b"from gmssl"
    ours = key.public_key().encrypt(b"from tulou")
    body = _der.read_sequence(ours, "t")
    x, pos = _der.read_integer(body, 0, "t")
    y, pos = _der.read_integer(body, pos, "t")
    _, c3, pos = _der.read_tlv(body, pos, "t")
    _, c2, _ = _der.read_tlv(body, pos, "t")
    assert ref.decrypt(x.to_bytes(32, "big") + y.to_bytes(32, "big") + c3 + c2) == b"from tulou"


def test_pem_and_der_round_trips(key: SM2PrivateKey) -> None:
    pub = key.public_key()
    assert SM2PublicKey.from_pem(pub.to_pem()) == pub
    assert SM2PublicKey.from_der(pub.to_der()) == pub
    assert SM2PublicKey.from_point(pub.point) == pub
    again = SM2PrivateKey.from_pem(key.to_pem())
    assert again.public_key() == pub
    assert SM2PrivateKey.from_der(key.to_der()).public_key() == pub
    pem = key.to_pem(b"correct horse", iterations=1000)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert SM2PrivateKey.from_pem(pem, b"correct horse").public_key() == pub
    der = key.to_der(b"correct horse", iterations=1000)
    assert SM2PrivateKey.from_der(der, b"correct horse").public_key() == pub


def test_wrong_passphrase_and_missing_passphrase(key: SM2PrivateKey) -> None:
    pem = key.to_pem(b"correct horse", iterations=1000)
    with pytest.raises(VerificationError, match="wrong passphrase"):
        SM2PrivateKey.from_pem(pem, b"wrong horse")
    with pytest.raises(UsageError, match="passphrase is required"):
        SM2PrivateKey.from_pem(pem)


def test_malformed_and_foreign_keys_are_input_errors(key: SM2PrivateKey) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1())
    p256_pem = p256.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(InputError):
        SM2PrivateKey.from_pem(p256_pem)
    spki = p256.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InputError):
        SM2PublicKey.from_der(spki)
    with pytest.raises(InputError):
        SM2PublicKey.from_pem(b"not a pem")
    bad_point = bytearray(key.public_key().point)
    bad_point[-1] ^= 1  # off the curve
    with pytest.raises(InputError):
        SM2PublicKey.from_point(bytes(bad_point))
    with pytest.raises(InputError):
        SM2PrivateKey.from_private_bytes(bytes(32))


def test_no_secret_in_reprs_or_errors(key: SM2PrivateKey) -> None:
    scalar = _scalar(key)
    assert scalar not in repr(key).lower()
    assert "SM2PrivateKey(public=" in repr(key)
    pem = key.to_pem(b"hunter2-passphrase", iterations=1000)
    with pytest.raises(VerificationError) as excinfo:
        SM2PrivateKey.from_pem(pem, b"hunter2-wrong")
    assert "hunter2" not in str(excinfo.value)


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_key_and_ciphertext_parsers_fail_with_typed_errors_only(junk: bytes) -> None:
    with pytest.raises(InputError):
        SM2PublicKey.from_der(junk)
    with pytest.raises((InputError, VerificationError, UsageError)):
        SM2PrivateKey.from_der(junk)
    with pytest.raises(VerificationError):
        SM2PrivateKey.from_private_bytes(STD_D).decrypt(junk)
