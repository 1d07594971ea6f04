"""E-mail notifications over SMTP (a real server in the tests: aiosmtpd on loopback).

Each message goes to the people it concerns -- the ``recipients`` the sender names (the new
assignee's or owner's address, ``users.e_mail``) -- plus, for new critical alerts and SLA
breaches, the duty addresses of the deployment (``TULOU_SOC_NOTIFY_EMAIL``, comma-separated).
Subject and body are in Simplified Chinese (or the configured language), UTF-8, with the facts
as ``key: value`` lines under the sentence. A message with no recipient is not sent. SMTP
failures are logged (server host only) and dropped, like every notifier (soc.notify).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from pydantic import SecretStr

from soc.i18n import _
from tulou import i18n
from tulou.errors import ConfigError

log = logging.getLogger(__name__)
#: Events that also go to the duty addresses.
DUTY_EVENTS = frozenset({"alert.critical", "alert.sla_breach"})


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = "tulou-soc@localhost"
    duty: tuple[str, ...] = ()
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    timeout: float = 10.0
    locale: str = i18n.DEFAULT_LOCALE

    def __post_init__(self) -> None:
        if not self.host or not 0 < self.port < 65536:
            raise ConfigError("the SMTP server needs a host and a port (1-65535)")
        if "@" not in self.sender:
            raise ConfigError("the notification sender must be an e-mail address")
        if (self.username is None) != (self.password is None):
            raise ConfigError("an SMTP user needs a password and a password needs a user")


class MailNotifier:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"MailNotifier(host={self.config.host!r})"

    def recipients(self, message: dict[str, Any]) -> list[str]:
        named = [str(r) for r in message.get("recipients") or () if r]
        if message.get("event") in DUTY_EVENTS:
            named += list(self.config.duty)
        return list(dict.fromkeys(named))

    def compose(self, message: dict[str, Any], to: Sequence[str]) -> EmailMessage:
        from soc.notify import describe  # noqa: PLC0415 - soc.notify imports the notifiers

        text = describe(message, self.config.locale)
        with i18n.using(self.config.locale):
            subject = _("[Tulou SOC] {text}").format(text=text)
            intro = _("This message was sent by the Tulou SOC.")
        facts = "\n".join(
            f"{k}: {v}" for k, v in sorted(message.items()) if k not in ("recipients", "text")
        )
        mail = EmailMessage()
        mail["From"] = self.config.sender
        mail["To"] = ", ".join(to)
        mail["Subject"] = subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self.config.sender.rsplit("@", 1)[-1])
        mail.set_content(f"{text}\n\n{facts}\n\n-- \n{intro}\n", charset="utf-8")
        return mail

    def send(self, message: dict[str, Any]) -> None:
        to = self.recipients(message)
        if not to:
            return
        mail = self.compose(message, to)
        cfg = self.config
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
                if cfg.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if cfg.username is not None and cfg.password is not None:
                    smtp.login(cfg.username, cfg.password.get_secret_value())
                smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("e-mail via %s failed: %s", cfg.host, type(exc).__name__)
