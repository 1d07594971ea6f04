"""Commercial cryptography: SM2, SM3, SM4 on native backends, the key store and the envelope.

Public surface (everything else is private and may change)::

    from crypto import sm2, sm3, sm4
    sm3.sm3(data) / sm3.SM3Hasher / sm3.hmac_sm3(key, data) / sm3.kdf(z, n) / sm3.pbkdf2_sm3
    sm4.seal(key, pt, aad=) / sm4.open(key, sealed, aad=) / sm4.Sealer / sm4.Opener
    sm4.cbc_encrypt / cbc_decrypt / ctr_encrypt / ctr_decrypt      (unauthenticated: interop)
    sm2.SM2PrivateKey.generate() .sign() .sign_raw() .decrypt() .to_pem() .from_pem()
    sm2.SM2PublicKey .verify() .verify_raw() .encrypt() .to_pem() .from_pem() .from_point()
    envelope.seal(...) / envelope.open(...)         signed + encrypted system-to-system messages
    KeyStore (protocol), FileKeyStore, MemoryKeyStore (fake): named, versioned, audited keys

Errors are :mod:`tulou.errors` types: ``VerificationError`` (bad signature, tag, C3, wrong key
or passphrase), ``InputError`` (malformed input), ``UsageError`` (wrong parameter).
Formats, invariants and the threat model: docs/crypto.md.
"""

from crypto import envelope, sm2, sm3, sm4
from crypto.envelope import MemoryReplayGuard, ReplayGuard
from crypto.filekeystore import FileKeyStore
from crypto.keystore import KeyDecrypter, KeyInfo, KeySigner, KeyStore, MemoryKeyStore
from crypto.sm2 import DEFAULT_UID, SM2PrivateKey, SM2PublicKey
from crypto.sm3 import SM3Hasher, hmac_sm3, kdf

__all__ = [
    "DEFAULT_UID",
    "FileKeyStore",
    "KeyDecrypter",
    "KeyInfo",
    "KeySigner",
    "KeyStore",
    "MemoryKeyStore",
    "MemoryReplayGuard",
    "ReplayGuard",
    "SM2PrivateKey",
    "SM2PublicKey",
    "SM3Hasher",
    "envelope",
    "hmac_sm3",
    "kdf",
    "sm2",
    "sm3",
    "sm4",
]
