"""The SOC's messages catalogue (``soc/locale/<locale>/LC_MESSAGES/soc.po``) and its shortcuts.

``_("...")`` translates into the current locale (:mod:`tulou.i18n`: set per request from the
user's language, else ``Accept-Language``, else Simplified Chinese). Messages with values use
named fields and ``.format`` after translation, so the catalogue holds one entry per message,
not per value: ``_("no alert {id}").format(id=7)``.
"""

from __future__ import annotations

from pathlib import Path

from tulou.i18n import N_, Catalogue

CATALOGUE = Catalogue(Path(__file__).with_name("locale"), "soc")


def _(message: str) -> str:
    return CATALOGUE.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return CATALOGUE.ngettext(singular, plural, n)


__all__ = ["CATALOGUE", "N_", "_", "ngettext"]
