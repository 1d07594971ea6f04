"""System-to-system scenario: SM2-signed, SM4-encrypted deliveries tampered with in transit.

The lab plays the civil-affairs department's system (envelope identity ``civil-affairs-gw``, its
enrolled machine certificate ``civil-affairs-sys``) delivering records to the data exchange
through the range gateway's ``inter_system: open`` route (``/inbound``). One delivery goes
through untouched (and its sealed answer is opened and checked); then a machine in the middle
flips bits in sealed messages — in the ciphertext, in the authentication tag and in the
signature. The receiving gateway refuses each one (``builtin:envelope-invalid``: "SM2 signature
does not verify") before the app sees it.
"""

from __future__ import annotations

import json
from typing import ClassVar

from gateway.sealing import CONTENT_TYPE
from lab.cityconfig import GATEWAY_SYSTEM
from lab.range import expect_status
from lab.scenarios.base import Scenario, Stage
from tulou.errors import VerificationError

SM2_FAILURES = "d44908d6-b949-55f8-a396-693765bb34dd"  # rules/gateway-sm2-signature-failures.yml

INBOUND = "https://exchange.city.test/inbound/records"
#: The civil-affairs system's machine certificate and address.
SYSTEM_DEVICE = "civil-affairs-sys"
SYSTEM_ADDRESS = "127.0.0.41"
SIGNATURE_BYTES = 64


def records(batch: int) -> bytes:
    """A delivery of household registrations (JSON), different per batch."""
    rows = [
        {"household": f"HH-2025-{batch:03d}-{n:02d}", "district": "Gulou", "members": 3 + n % 3}
        for n in range(4)
    ]
    return json.dumps(rows).encode()


def deliver_sealed(stage: Stage, batch: int) -> None:
    """One genuine delivery; its sealed answer must open and say the records were accepted."""
    city = stage.range
    sealer = city.sealer()
    binding = {"m": "POST", "p": "/inbound/records", "ct": "application/json"}
    sealed = sealer.seal(binding, records(batch), GATEWAY_SYSTEM)
    with city.client(SYSTEM_DEVICE, SYSTEM_ADDRESS) as client:
        response = client.post(INBOUND, content=sealed, headers={"Content-Type": CONTENT_TYPE})
    expect_status(response, 201)
    answer = sealer.open(response.content, from_peer=GATEWAY_SYSTEM)
    if json.loads(answer.body).get("accepted") != 4:
        raise VerificationError(f"the exchange did not accept batch {batch}: {answer.body!r}")


class Sm2EnvelopeTampering(Scenario):
    name: ClassVar[str] = "sm2-envelope-tampering"
    title: ClassVar[str] = "Sealed deliveries between two city systems tampered with in transit"
    techniques: ClassVar[tuple[str, ...]] = ("T1565.002", "T1557")
    expects: ClassVar[tuple[str, ...]] = (SM2_FAILURES,)
    needs_range: ClassVar[bool] = True

    def play(self, stage: Stage) -> None:
        city = stage.range
        sealer = city.sealer()
        binding = {"m": "POST", "p": "/inbound/records", "ct": "application/json"}
        with city.recording(stage):
            deliver_sealed(stage, 1)
            # Bits flipped after sealing: in the ciphertext, in the SM4-GCM tag (just before
            # the signature) and in the SM2 signature itself. The signature covers all of it.
            offsets = (-SIGNATURE_BYTES - 40, -SIGNATURE_BYTES - 1, -SIGNATURE_BYTES // 2, -1)
            with city.client(SYSTEM_DEVICE, SYSTEM_ADDRESS) as client:
                for number, offset in enumerate(offsets, start=2):
                    tampered = bytearray(sealer.seal(binding, records(number), GATEWAY_SYSTEM))
                    tampered[offset] ^= 0x20
                    response = client.post(
                        INBOUND, content=bytes(tampered), headers={"Content-Type": CONTENT_TYPE}
                    )
                    expect_status(response, 403)
        received = len(city.apps["exchange"].app.received)  # type: ignore[attr-defined]
        stage.note(
            f"1 genuine sealed delivery accepted; {len(offsets)} tampered deliveries refused "
            f"by the gateway (the exchange has received {received} deliveries in all)"
        )


SCENARIOS: tuple[type[Scenario], ...] = (Sm2EnvelopeTampering,)
