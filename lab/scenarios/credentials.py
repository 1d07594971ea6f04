"""Scenarios: credentials (filled in by the lab work)."""

from __future__ import annotations

from lab.scenarios.base import Scenario

SCENARIOS: tuple[type[Scenario], ...] = ()
