"""tulou.i18n: locale choice, catalogues compiled from .po, local times and human units."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tulou import i18n
from tulou.errors import ConfigError
from tulou.i18n import Catalogue


def test_negotiate_prefers_chinese_unless_english_comes_first():
    assert i18n.negotiate(None) == "zh_CN"
    assert i18n.negotiate("") == "zh_CN"
    assert i18n.negotiate("en-US,en;q=0.9") == "en"
    assert i18n.negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh_CN"
    assert i18n.negotiate("fr-FR,en;q=0.5,zh;q=0.7") == "zh_CN"
    assert i18n.negotiate("fr-FR,en;q=0.8,zh;q=0.7") == "en"
    assert i18n.negotiate("de;q=bogus") == "zh_CN"
    assert i18n.normalise_locale("en_GB") == "en"
    assert i18n.normalise_locale("zh-Hans") == "zh_CN"


def test_a_catalogue_compiles_its_po_file(tmp_path):
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "demo.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n'
        '"Plural-Forms: nplurals=1; plural=0;\\n"\n\n'
        'msgid "Alerts"\nmsgstr "告警"\n\n'
        'msgid "{n} alert"\nmsgid_plural "{n} alerts"\nmsgstr[0] "{n} 条告警"\n',
        encoding="utf-8",
    )
    catalogue = Catalogue(tmp_path, "demo")
    assert catalogue.gettext("Alerts") == "告警"  # Chinese is the default
    assert catalogue.ngettext("{n} alert", "{n} alerts", 3) == "{n} 条告警"
    assert catalogue.gettext("not in it") == "not in it"
    with i18n.using("en"):
        assert catalogue.gettext("Alerts") == "Alerts"  # no English catalogue: the msgid
        assert catalogue.ngettext("{n} alert", "{n} alerts", 1) == "{n} alert"
    assert i18n.current_locale() == "zh_CN"  # restored after the block


def test_a_missing_chinese_catalogue_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="catalogue"):
        Catalogue(tmp_path, "nothing").gettext("x")


def test_times_are_shown_in_the_city_zone_to_the_second():
    moment = datetime(2026, 1, 1, 16, 30, 5, 123456, tzinfo=UTC)
    assert i18n.format_datetime(moment) == "2026-01-02 00:30:05"  # UTC+8, no microseconds
    with i18n.using("zh_CN", "Europe/Berlin"):
        assert i18n.format_datetime(moment) == "2026-01-01 17:30:05"
    assert i18n.format_datetime(None) == "—"
    with pytest.raises(ValueError, match="aware"):
        i18n.format_datetime(datetime(2026, 1, 1))
    with pytest.raises(ConfigError, match="time zone"):
        i18n.zone("Mars/Olympus")


@pytest.mark.parametrize(
    ("seconds", "zh", "en"),
    [
        (0, "0 秒", "0 s"),
        (42.4, "42 秒", "42 s"),
        (60, "1 分", "1 min"),
        (75, "1 分 15 秒", "1 min 15 s"),
        (3600, "1 小时", "1 h"),
        (3 * 3600 + 125, "3 小时 2 分", "3 h 2 min"),
        (2 * 86400 + 3600, "2 天 1 小时", "2 d 1 h"),
        (86400 + 30, "1 天", "1 d"),
    ],
)
def test_durations_in_human_units(seconds, zh, en):
    assert i18n.format_duration(seconds) == zh
    with i18n.using("en"):
        assert i18n.format_duration(seconds) == en


def test_counts():
    assert i18n.format_count(9_999) == "9,999"
    assert i18n.format_count(125_000) == "12.5 万"
    assert i18n.format_count(1_000_000) == "100 万"
    with i18n.using("en"):
        assert i18n.format_count(1_000_000) == "1,000,000"
