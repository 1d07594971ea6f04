"""Every sentence a report prints has a Chinese translation (compliance/locale)."""

from __future__ import annotations

from pathlib import Path

from compliance.i18n import CATALOGUE
from tulou.i18n_catalogue import COMPONENTS, untranslated

COMPLIANCE = Path(__file__).resolve().parents[3] / "compliance"


def test_every_extracted_string_has_a_chinese_translation() -> None:
    domain, skip = COMPONENTS["compliance"]
    assert domain == CATALOGUE.domain
    assert untranslated(CATALOGUE, COMPLIANCE, skip=skip) == []
