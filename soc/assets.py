"""The asset inventory: the city's systems with their MLPS (等级保护, GB/T 22239) level.

File ``<data_dir>/soc/assets.yaml`` (optional; ``TULOU_SOC_ASSETS`` names another)::

    assets:
      - name: 政务服务网        # shown to analysts
        mlps_level: 3          # 1-5
        owner: 市大数据局
        networks: [10.20.0.0/16, 2001:db8:20::/48]
        hosts: [gov-portal-1, gov-portal-2]
        domains: [zwfw.example.gov.cn]

Read once, validated (typed, frozen; a bad file refuses to start with the line of the problem),
then used by the offline enrichment (soc.enrichment): which graded assets an observable touches.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tulou.errors import ConfigError


class AssetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    mlps_level: int = Field(ge=1, le=5)
    owner: str = Field(default="", max_length=200)
    networks: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value


class InventoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    assets: tuple[AssetIn, ...] = ()


@dataclass(frozen=True)
class Asset:
    name: str
    mlps_level: int
    owner: str
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    hosts: frozenset[str]
    domains: frozenset[str]

    def label(self) -> str:
        return f"{self.name} (MLPS {self.mlps_level})"


@dataclass(frozen=True)
class Inventory:
    assets: tuple[Asset, ...] = ()

    def touching(self, kind: str, value: str) -> list[Asset]:
        """Assets an observable of ``kind`` with ``value`` belongs to."""
        found = []
        for asset in self.assets:
            if kind in ("ip", "host"):
                try:
                    address = ipaddress.ip_address(value)
                except ValueError:
                    address = None
                if address is not None and any(address in net for net in asset.networks):
                    found.append(asset)
                    continue
            if kind == "host" and value.lower() in asset.hosts:
                found.append(asset)
            elif kind in ("domain", "url", "email"):
                host = value.rsplit("@", 1)[-1] if kind == "email" else value
                if kind == "url":
                    from urllib.parse import urlsplit  # noqa: PLC0415

                    host = urlsplit(value).hostname or ""
                if any(host == d or host.endswith("." + d) for d in asset.domains):
                    found.append(asset)
        return found


def load(path: Path | None) -> Inventory:
    if path is None or not path.is_file():
        return Inventory()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        parsed = InventoryIn.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError, ValueError) as exc:
        raise ConfigError(f"the asset inventory {path} is not valid: {exc}") from exc
    return Inventory(
        tuple(
            Asset(
                name=a.name,
                mlps_level=a.mlps_level,
                owner=a.owner,
                networks=tuple(ipaddress.ip_network(n, strict=False) for n in a.networks),
                hosts=frozenset(h.lower() for h in a.hosts),
                domains=frozenset(d.lower().rstrip(".") for d in a.domains),
            )
            for a in parsed.assets
        )
    )
