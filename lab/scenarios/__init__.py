"""The scenario registry: an explicit list of modules, each exporting ``SCENARIOS``.

No discovery: adding a scenario means adding its class to its module's ``SCENARIOS`` tuple (and
a new module to :data:`MODULES`). Names are unique; the order here is the order of ``run-all``.
"""

from __future__ import annotations

import importlib

from lab.scenarios.base import Artifact, Scenario, Stage
from tulou.errors import NotFoundError, UsageError

__all__ = ["MODULES", "Artifact", "Scenario", "Stage", "all_scenarios", "get"]

#: Modules holding scenarios, in run order (benign days last: they must stay quiet after attacks).
MODULES: tuple[str, ...] = (
    "lab.scenarios.credentials",
    "lab.scenarios.gateway_identity",
    "lab.scenarios.network",
    "lab.scenarios.web_attacks",
    "lab.scenarios.host",
    "lab.scenarios.system_to_system",
    "lab.scenarios.ransomware",
    "lab.scenarios.crypto_service",
    "lab.scenarios.benign",
    "lab.scenarios.benign_gateway",
)


def all_scenarios() -> list[Scenario]:
    """One instance of every registered scenario, in run order."""
    found: list[Scenario] = []
    seen: set[str] = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for cls in getattr(module, "SCENARIOS", ()):
            if cls.name in seen:
                raise UsageError(f"duplicate scenario name {cls.name!r} in {module_name}")
            seen.add(cls.name)
            found.append(cls())
    return found


def get(name: str) -> Scenario:
    for scenario in all_scenarios():
        if scenario.name == name:
            return scenario
    names = ", ".join(s.name for s in all_scenarios())
    raise NotFoundError(f"no scenario {name!r} (known: {names})")
