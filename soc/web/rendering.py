"""The Jinja environment of the web UI: gettext (``_``, ``{% trans %}``), local times, units.

Templates are translated through :mod:`soc.i18n`: ``_("{n} alerts", n=3)`` translates, then
fills the named fields with ``str.format`` (the same form as in Python code); the result is
escaped like any other value when printed. Filters: ``dt`` (a time in the city's time zone,
to the second), ``duration`` (seconds in human units), ``count`` (grouped digits), ``label``
(the translated name of a status, severity, ...).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from soc.i18n import CATALOGUE
from soc.web.labels import label
from tulou import i18n


def _gettext(message: str, **values: Any) -> str:
    text = CATALOGUE.gettext(message)
    return text.format(**values) if values else text


def _ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    text = CATALOGUE.ngettext(singular, plural, n)
    return text.format(**values) if values else text


@cache
def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=False)  # type: ignore[attr-defined]
    env.filters["dt"] = i18n.format_datetime
    env.filters["duration"] = i18n.format_duration
    env.filters["count"] = i18n.format_count
    env.filters["label"] = lambda value, kind: label(kind, value)
    env.globals["locale_names"] = i18n.LOCALE_NAMES
    return Jinja2Templates(env=env)


def render(request: Request, name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` in the request's locale (set by the locale middleware or the user)."""
    context.setdefault("locale", i18n.current_locale())
    context.setdefault("html_lang", "zh-CN" if i18n.current_locale() == "zh_CN" else "en")
    return templates().TemplateResponse(request, name, context, status_code=http_status)
