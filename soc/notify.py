"""Notifications: new critical alerts, assignments, SLA breaches -- by signed webhook and e-mail.

:class:`Notifier` is the seam: ``send(message)`` takes one message (a dict with ``event`` and
its facts, see :data:`EVENTS`) and MUST NOT raise (delivery problems are logged and dropped:
a notification never fails the analyst's action). Implementations: :class:`WebhookNotifier`
(JSON, signed with HMAC-SM3, :mod:`soc.webhook`), :class:`soc.mailer.MailNotifier` (SMTP),
:class:`FanOut` (several), :class:`NullNotifier`, and the recording fake. Delivery runs after
the database commit, off the request path (a background task or the SLA watcher's thread).

Every message carries ``text``: one line for people, in Simplified Chinese unless the
deployment's notification language is English (:func:`describe`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from soc.i18n import N_, _
from tulou import i18n

log = logging.getLogger(__name__)

#: event -> its one-line text (named fields from the message).
EVENTS: dict[str, str] = {
    "alert.assigned": N_(
        "Alert {alert_id} ({severity}) \u201c{title}\u201d assigned to {assignee} by {by}"
    ),
    "alert.critical": N_("New critical alert {alert_id}: \u201c{title}\u201d"),
    "alert.sla_breach": N_(
        "Alert {alert_id} ({severity}) \u201c{title}\u201d is past its {target} target"
    ),
    "case.assigned": N_("Case {case_id} \u201c{title}\u201d now owned by {owner} (set by {by})"),
}
TARGETS = {"acknowledge": N_("acknowledge"), "resolve": N_("resolve")}


def describe(message: dict[str, Any], locale: str = i18n.DEFAULT_LOCALE) -> str:
    """The message's line for people, in ``locale``."""
    template = EVENTS.get(str(message.get("event")))
    with i18n.using(locale):
        if template is None:
            return str(message.get("event"))
        facts = {k: v for k, v in message.items() if k != "text"}
        if "severity" in facts:
            from soc.web.labels import label  # noqa: PLC0415 - display names live with the UI

            facts["severity"] = label("severity", facts["severity"])
        if "target" in facts:
            facts["target"] = _(TARGETS.get(str(facts["target"]), str(facts["target"])))
        try:
            return _(template).format(**facts)
        except (KeyError, IndexError):
            return _(template)


class Notifier(Protocol):
    """``send(message)`` MUST NOT raise: delivery problems are logged and dropped."""

    def send(self, message: dict[str, Any]) -> None: ...


class NullNotifier:
    def send(self, message: dict[str, Any]) -> None:
        return None


class RecordingNotifier:
    """The fake: remembers every message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


class FanOut:
    """Every message to each notifier in turn (one failing never stops the others)."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = list(notifiers)

    def __repr__(self) -> str:
        return f"FanOut({self.notifiers!r})"

    def send(self, message: dict[str, Any]) -> None:
        for notifier in self.notifiers:
            try:
                notifier.send(message)
            except Exception as exc:  # noqa: BLE001 - the contract is "never raise"
                log.warning("notifier %r failed: %s", notifier, type(exc).__name__)


def send_all(notifier: Notifier, messages: Sequence[dict[str, Any]]) -> None:
    for message in messages:
        notifier.send(message)


__all__ = [
    "EVENTS",
    "FanOut",
    "Notifier",
    "NullNotifier",
    "RecordingNotifier",
    "describe",
    "send_all",
]
