"""The reports' messages catalogue (``compliance/locale/<locale>/LC_MESSAGES/compliance.po``).

Reports are Simplified Chinese by default and English on request (``tulou report ... --lang
en``): the command renders inside :func:`tulou.i18n.using`, and every sentence a report prints
(clause reasons, evidence problems, headings) goes through ``_()``. Messages with values use
named fields and ``.format`` after translation. Text that comes from the clause catalogue
(clauses.yaml) carries its Chinese beside it (``*_zh`` fields); :func:`pick` chooses.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tulou import i18n
from tulou.i18n import N_, Catalogue

CATALOGUE = Catalogue(Path(__file__).with_name("locale"), "compliance")


def _(message: str) -> str:
    return CATALOGUE.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return CATALOGUE.ngettext(singular, plural, n)


def chinese() -> bool:
    return i18n.current_locale() == "zh_CN"


def pick(data: Mapping[str, Any], name: str) -> str:
    """``data[name + "_zh"]`` in Chinese (if present), else ``data[name]``."""
    if chinese() and data.get(f"{name}_zh"):
        return str(data[f"{name}_zh"])
    return str(data.get(name, ""))


__all__ = ["CATALOGUE", "N_", "_", "chinese", "ngettext", "pick"]
