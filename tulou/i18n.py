"""Translations and local formats for what people read: Simplified Chinese first, English per user.

Messages are written in English in the code and templates (the gettext ``msgid``) and translated
by gettext catalogues, one per component (a :class:`Catalogue`: ``<package>/locale/<locale>/
LC_MESSAGES/<domain>.po``). The ``.po`` files are the source of truth, reviewed as text; they are
compiled with Babel to gettext's binary form in memory on first use (so a compiled file can never
be older than its source). ``zh_CN`` is the default locale; ``en`` shows the ``msgid`` itself.

The current locale is a context variable (:func:`using`), set once per request or per report by
the edge that knows the reader; :func:`gettext` and friends translate into it. ``N_`` only marks
a string for extraction (module-level tables), translated later where it is shown.

Times are shown in the city's time zone (``Asia/Shanghai`` unless configured) to the second, and
durations and sizes in human units (:func:`format_duration`, :func:`format_count`).
"""

from __future__ import annotations

import gettext as _gettext
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tulou.errors import ConfigError

#: Locales with a catalogue, the default first.
LOCALES: tuple[str, ...] = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: What a locale is called in its own language (for the language switch).
LOCALE_NAMES: dict[str, str] = {"zh_CN": "简体中文", "en": "English"}

_locale: ContextVar[str] = ContextVar("tulou_locale", default=DEFAULT_LOCALE)
_timezone: ContextVar[str] = ContextVar("tulou_timezone", default=DEFAULT_TIMEZONE)


def normalise_locale(value: str | None) -> str:
    """``zh``, ``zh-CN``, ``zh_Hans`` -> ``zh_CN``; ``en-US`` -> ``en``; else the default."""
    if not value:
        return DEFAULT_LOCALE
    text = value.strip().replace("-", "_").lower()
    if text.startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> str:
    """The best locale for an ``Accept-Language`` header (Chinese unless English comes first)."""
    if not accept_language:
        return DEFAULT_LOCALE
    best, best_q = DEFAULT_LOCALE, -1.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lowered = tag.strip().lower()
        if lowered.startswith(("zh", "en")) and q > best_q:
            best, best_q = normalise_locale(lowered), q
    return best


def current_locale() -> str:
    return _locale.get()


def current_timezone() -> str:
    return _timezone.get()


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r} (an IANA name, e.g. Asia/Shanghai)") from exc


def set_locale(locale: str) -> None:
    """Switch the current context to ``locale`` (an edge that learns the reader's choice late,
    e.g. after authenticating; the enclosing :func:`using` restores the previous value)."""
    _locale.set(normalise_locale(locale))


@contextmanager
def using(locale: str, timezone: str | None = None) -> Iterator[None]:
    """Translate into ``locale`` (and show times in ``timezone``) inside the block."""
    token = _locale.set(normalise_locale(locale))
    tz_token = _timezone.set(timezone) if timezone else None
    try:
        yield
    finally:
        _locale.reset(token)
        if tz_token is not None:
            _timezone.reset(tz_token)


@dataclass
class Catalogue:
    """The gettext catalogues of one component: ``directory/<locale>/LC_MESSAGES/<domain>.po``."""

    directory: Path
    domain: str
    _compiled: dict[str, _gettext.NullTranslations] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def po_path(self, locale: str) -> Path:
        return self.directory / locale / "LC_MESSAGES" / f"{self.domain}.po"

    def translations(self, locale: str) -> _gettext.NullTranslations:
        """The compiled catalogue of ``locale`` (English: the msgids themselves)."""
        locale = normalise_locale(locale)
        got = self._compiled.get(locale)
        if got is not None:
            return got
        with self._lock:
            got = self._compiled.get(locale)
            if got is None:
                got = self._compile(locale)
                self._compiled[locale] = got
        return got

    def _compile(self, locale: str) -> _gettext.NullTranslations:
        from babel.messages.mofile import write_mo  # noqa: PLC0415 - Babel loads on first use
        from babel.messages.pofile import read_po  # noqa: PLC0415

        path = self.po_path(locale)
        if locale == "en" and not path.exists():
            return _gettext.NullTranslations()
        try:
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=locale, domain=self.domain)
        except OSError as exc:
            raise ConfigError(
                f"the {locale} catalogue of {self.domain} is missing: {path}"
            ) from exc
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        return _gettext.GNUTranslations(buffer)

    def gettext(self, message: str) -> str:
        return self.translations(current_locale()).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations(current_locale()).ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self.translations(current_locale()).pgettext(context, message)


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


def format_datetime(value: datetime | None, *, seconds: bool = True) -> str:
    """An aware time in the current time zone: ``2026-01-01 08:05:00`` (never microseconds)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        raise ValueError("format_datetime needs an aware datetime")
    local = value.astimezone(zone(current_timezone()))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


_UNITS = {
    "zh_CN": (("天", 86400), ("小时", 3600), ("分", 60), ("秒", 1)),
    "en": (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)),
}


def format_duration(seconds: float | None) -> str:
    """A duration in its two largest units (``1 小时 5 分``, ``1 h 5 min``); ``—`` for None."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 0:
        raise ValueError("a duration cannot be negative")
    units = _UNITS[current_locale()] if current_locale() in _UNITS else _UNITS["en"]
    parts: list[str] = []
    for name, size in units:
        amount, total = divmod(total, size)
        if amount or (parts and len(parts) < 2):
            parts.append(f"{amount} {name}")
        if len(parts) == 2:
            break
    if not parts:
        return f"0 {units[-1][0]}"
    if len(parts) == 2 and parts[1].startswith("0 "):
        parts.pop()
    return " ".join(parts)


def format_count(n: int) -> str:
    """A count with grouped digits (``12,345``; 万 from ten thousand up in Chinese)."""
    if current_locale() == "zh_CN" and abs(n) >= 10_000:
        return f"{n / 10_000:.1f} 万".replace(".0 万", " 万")
    return f"{n:,}"
