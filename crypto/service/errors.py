"""The service's error codes: one table, translated once per edge.

Every refusal of the crypto service carries a stable, documented ``code`` (docs/crypto.md,
"Error codes"). The table gives each code its HTTP status (the edge in :mod:`crypto.service.app`)
and the :mod:`tulou.errors` class a client raises for it (the edge in
:mod:`crypto.service.client`), so the CLI exit code of ``tulou crypto remote`` follows too.
"""

from __future__ import annotations

from dataclasses import dataclass

from tulou.errors import (
    ConfigError,
    InputError,
    NotFoundError,
    PolicyDeniedError,
    ReplayError,
    TulouError,
    UnavailableError,
    UsageError,
    VerificationError,
)


@dataclass(frozen=True, slots=True)
class Code:
    name: str
    status: int
    kind: type[TulouError]
    meaning: str


_TABLE = (
    Code("bad-request", 400, UsageError, "the request is malformed or a parameter is invalid"),
    Code("unauthenticated", 401, VerificationError, "no valid caller credential"),
    Code("denied", 403, PolicyDeniedError, "the policy does not allow this caller this operation"),
    Code("wrong-tenant", 403, PolicyDeniedError, "the object belongs to another tenant or key"),
    Code("unknown-key", 404, NotFoundError, "no such tenant, key ring, key or version"),
    Code("not-found", 404, NotFoundError, "no such certificate, request or object"),
    Code("exists", 409, UsageError, "an object of that name already exists"),
    Code("replayed-request", 409, ReplayError, "this request id was seen before, or is stale"),
    Code("key-disabled", 409, PolicyDeniedError, "the key or key version is disabled"),
    Code("version-destroyed", 410, PolicyDeniedError, "the key version was destroyed"),
    Code("version-retired", 409, PolicyDeniedError, "below the key's minimum decryption version"),
    Code("wrong-key-type", 409, UsageError, "the key's type does not support this operation"),
    Code("not-exportable", 403, PolicyDeniedError, "the key's export policy forbids export"),
    Code("dual-control", 409, PolicyDeniedError, "a second, different officer must approve"),
    Code("waiting-period", 409, PolicyDeniedError, "the destruction waiting period has not ended"),
    Code("ciphertext-invalid", 400, InputError, "not a ciphertext of this service"),
    Code("decrypt-failed", 400, VerificationError, "tampered ciphertext or wrong context"),
    Code("signature-invalid", 400, VerificationError, "the signature does not verify"),
    Code("mac-invalid", 400, VerificationError, "the HMAC-SM3 tag does not verify"),
    Code("csr-invalid", 400, InputError, "the CSR cannot be parsed or its signature is bad"),
    Code("certificate-invalid", 400, VerificationError, "the certificate chain does not verify"),
    Code("certificate-expired", 400, VerificationError, "a certificate is outside validity"),
    Code("certificate-revoked", 400, VerificationError, "a certificate is revoked by the CRL"),
    Code("body-too-large", 413, UsageError, "the request body is over the limit"),
    Code("quota-exceeded", 429, UnavailableError, "the caller's operation quota is used up"),
    Code("unavailable", 503, UnavailableError, "the audit log or key store cannot be written"),
    Code("config", 500, ConfigError, "the service is misconfigured"),
)
CODES: dict[str, Code] = {code.name: code for code in _TABLE}


class ServiceError(TulouError):
    """A refusal with a stable ``code`` from :data:`CODES`. Messages never carry secrets."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown service error code {code!r}")
        super().__init__(message)
        self.code = code
        self.exit_code = CODES[code].kind.exit_code

    @property
    def status(self) -> int:
        return CODES[self.code].status

    def as_tulou_error(self) -> TulouError:
        """The :mod:`tulou.errors` instance a client raises for this code."""
        return CODES[self.code].kind(f"{self.code}: {self.message}")
