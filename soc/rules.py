"""The rule catalogue: which ATT&CK techniques our Sigma rules cover (for the coverage matrix).

Loaded from Sigma YAML files (one rule per file, ``id``, ``title``, ``tags``) by
``tulou soc rules load DIR``, or registered by detect through ``POST /api/v1/rules``. Files
that cannot be read are collected with their reason; the others are loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from soc.models import RuleInfo, utcnow


def attack_tags(tags: list[Any]) -> list[str]:
    return sorted(
        {str(t).lower().replace("_", "-") for t in tags if str(t).lower().startswith("attack.")}
    )


def upsert(session: Session, rule_id: str, title: str, tags: list[Any]) -> None:
    row = session.get(RuleInfo, rule_id)
    if row is None:
        session.add(RuleInfo(rule_id=rule_id, title=title, techniques=attack_tags(tags)))
    else:
        row.title, row.techniques, row.updated_at = title, attack_tags(tags), utcnow()


def load_dir(session: Session, directory: Path) -> tuple[int, list[str]]:
    """Load every ``*.yml`` / ``*.yaml`` under ``directory``; returns (loaded, problems)."""
    loaded, problems = 0, []
    for path in sorted([*directory.rglob("*.yml"), *directory.rglob("*.yaml")]):
        try:
            # A file may hold several documents (a correlation rule and the rules it uses).
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(f"{path}: {type(exc).__name__}")
            continue
        for doc in docs:
            if not isinstance(doc, dict) or "id" not in doc or "title" not in doc:
                continue  # pipelines and other YAML that are not rules
            upsert(session, str(doc["id"]), str(doc["title"]), list(doc.get("tags") or []))
            loaded += 1
    return loaded, problems
