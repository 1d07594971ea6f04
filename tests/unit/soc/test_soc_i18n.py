"""Every string people read in the SOC has a Chinese translation; templates hold no bare text."""

from __future__ import annotations

import re
from pathlib import Path

from soc.i18n import CATALOGUE
from tulou import i18n
from tulou.i18n_catalogue import COMPONENTS, extract, untranslated

SOC = Path(__file__).resolve().parents[3] / "soc"
TEMPLATES = SOC / "web" / "templates"
#: Words that are names, not text to translate (shown alike in both languages).
NAMES = {"ATT&amp;CK", "RTO", "RPO", "@timestamp", "event.original", "#", "·", "—"}


def test_every_extracted_string_has_a_chinese_translation():
    domain, skip = COMPONENTS["soc"]
    assert domain == CATALOGUE.domain
    assert untranslated(CATALOGUE, SOC, skip=skip) == []


def test_the_extractor_finds_python_and_template_strings():
    found = extract(SOC, COMPONENTS["soc"][1])
    assert "Alert queue" in found  # a template
    assert "no alert {id}" in found  # Python code
    assert ("last {num} day", "last {num} days") in found  # a plural


def _bare_text(source: str) -> list[str]:
    """Text a template prints outside ``{{ }}``, ``{% %}`` and tags: must be none but names."""
    text = re.sub(r"{#.*?#}", " ", source, flags=re.S)
    text = re.sub(r"<style>.*?</style>", " ", text, flags=re.S)
    text = re.sub(r"{{.*?}}|{%.*?%}", " ", text, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    words = [w for w in re.split(r"\s+", text) if w]
    return [w for w in words if re.search(r"[A-Za-z]", w) and w not in NAMES]


def test_no_template_prints_untranslated_text():
    problems = {}
    for path in sorted(TEMPLATES.glob("*.html")):
        bare = _bare_text(path.read_text(encoding="utf-8"))
        if bare:
            problems[path.name] = bare
    assert problems == {}


def test_attribute_text_is_translated_too():
    # placeholder=, title=, aria-label= are read by people: they must go through _() as well.
    problems = []
    for path in sorted(TEMPLATES.glob("*.html")):
        for match in re.finditer(
            r'(placeholder|aria-label)="([^"{]*[A-Za-z][^"{]*)"', path.read_text("utf-8")
        ):
            if "{{" not in match.group(2):
                problems.append(f"{path.name}: {match.group(0)}")
    # A query example (field:value) is code, not prose.
    assert [p for p in problems if not re.search(r"[a-z.@]+:[\w\[]", p)] == []


def test_chinese_is_the_default_and_english_is_the_msgid():
    assert CATALOGUE.gettext("Alert queue") == "告警队列"
    with i18n.using("en"):
        assert CATALOGUE.gettext("Alert queue") == "Alert queue"


def test_a_bare_english_word_is_caught():
    # The check itself can fail: a template line with untranslated text is reported.
    assert _bare_text('<p class="x">{{ _("Saved") }} Delete me</p>') == ["Delete", "me"]
