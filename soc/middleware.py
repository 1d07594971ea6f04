"""Raw ASGI middleware around the whole app: security headers and the request's language.

:class:`SecurityHeaders` adds to every response: a Content-Security-Policy that allows no
script at all and no framing (``frame-ancestors 'none'``, plus ``X-Frame-Options: DENY`` for
old browsers), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
``Cache-Control: no-store`` on pages and API answers (they hold incident data), and HSTS when
the SOC is served behind TLS (``secure`` -- the same switch as the ``Secure`` cookie flag;
browsers ignore HSTS on plain HTTP anyway). The API docs page (``/api/docs``) keeps Swagger's
scripts, so it gets no script ban.

:class:`Language` sets the current locale (:mod:`tulou.i18n`) for the request: the
``tulou_lang`` cookie (set by the language switch), else Simplified Chinese for pages -- a
browser's own ``Accept-Language`` (often ``en-US`` out of the box) does not switch the city's
UI -- and ``Accept-Language`` for the API (scripts ask for what they parse). An authenticated
user's own choice replaces it later (:mod:`soc.deps`). Times are shown in ``timezone``.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tulou import i18n

LANG_COOKIE = "tulou_lang"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in ("/api/docs", "/api/docs/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not docs:
                    headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cache-Control", "no-store")
                if self.secure or scope.get("scheme") == "https":
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def request_locale(headers: Headers, *, api: bool = True) -> str:
    cookie = headers.get("cookie")
    if cookie:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie)
        except Exception:  # noqa: BLE001 - a malformed cookie header: ignore it, use the default
            jar = SimpleCookie()
        if LANG_COOKIE in jar:
            return i18n.normalise_locale(jar[LANG_COOKIE].value)
    if not api:
        return i18n.DEFAULT_LOCALE
    return i18n.negotiate(headers.get("accept-language"))


class Language:
    def __init__(self, app: ASGIApp, *, timezone: str) -> None:
        self.app = app
        self.timezone = timezone
        i18n.zone(timezone)  # refuse an unknown zone at start-up, not on the first page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope.get("path", "")).startswith("/api")
        with i18n.using(request_locale(Headers(scope=scope), api=api), self.timezone):
            await self.app(scope, receive, send)
