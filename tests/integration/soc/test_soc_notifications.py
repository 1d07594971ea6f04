"""Notifications by e-mail through a real SMTP server (aiosmtpd on loopback) and the webhook:
assignment (single and bulk), new critical alerts, SLA breaches, case owners."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from crypto.sm3 import sm3
from soc.app import create_app
from soc.mailer import MailNotifier, SmtpConfig
from soc.metrics import DEFAULT_SLA
from soc.models import Alert, User, utcnow
from soc.notifications import sla_breaches
from soc.notify import FanOut, RecordingNotifier


def mail_app(env, smtp_server, recorder=None):
    mailer = MailNotifier(
        SmtpConfig(
            host=smtp_server.host,
            port=smtp_server.port,
            sender="soc@city.example",
            duty=("duty@city.example",),
        )
    )
    notifier = FanOut([mailer, recorder]) if recorder else mailer
    with env.db.write() as session:
        session.execute(
            update(User).where(User.username == "bob").values(e_mail="bob@city.example")
        )
    return TestClient(create_app(env.db, hash_fn=sm3, notifier=notifier))


def test_assignment_mails_the_assignee_in_chinese(soc_sqlite, smtp_server):
    alert_id = soc_sqlite.new_alert()
    client = mail_app(soc_sqlite, smtp_server)
    r = client.post(
        f"/api/v1/alerts/{alert_id}/assign",
        headers=soc_sqlite.headers("ana"),
        json={"assignee": "bob", "version": 1},
    )
    assert r.status_code == 200
    (got,) = smtp_server.wait_for(1)
    assert got.rcpt_tos == ["bob@city.example"] and got.mail_from == "soc@city.example"
    assert got.message["Subject"] == (
        f"【土楼安全运营中心】告警 {alert_id}（高）“SSH brute force”已由 ana 分派给 bob"
    )
    body = got.message.get_content()
    assert "本邮件由土楼安全运营中心发送" in body and f"alert_id: {alert_id}" in body
    client.close()


def test_bulk_assignment_notifies_every_alert(soc_sqlite, smtp_server):
    a, b = soc_sqlite.new_alert(), soc_sqlite.new_alert()
    recorder = RecordingNotifier()
    client = mail_app(soc_sqlite, smtp_server, recorder)
    r = client.post(
        "/api/v1/alerts/bulk",
        headers=soc_sqlite.headers("ana"),
        json={"items": [{"id": a, "version": 1}, {"id": b, "version": 1}], "assignee": "bob"},
    )
    assert all(x["ok"] for x in r.json()["results"])
    assert sorted(m["alert_id"] for m in recorder.messages) == [a, b]
    assert len(smtp_server.wait_for(2)) == 2
    client.close()


def test_a_new_critical_alert_goes_to_the_duty_address_once(soc_sqlite, smtp_server):
    client = mail_app(soc_sqlite, smtp_server)
    svc = soc_sqlite.headers("service")
    crit = soc_sqlite.alert(level="critical", title="Ransomware", dedup_key="crit")
    again = soc_sqlite.alert(level="critical", title="Ransomware", dedup_key="crit")
    low = soc_sqlite.alert(level="low")
    assert (
        client.post("/api/v1/alerts/ingest", headers=svc, json={"alerts": [crit, low]}).json()[
            "created"
        ]
        == 2
    )
    # A second occurrence grouped into the open alert is not a new critical alert.
    assert (
        client.post("/api/v1/alerts/ingest", headers=svc, json={"alerts": [again]}).json()[
            "grouped"
        ]
        == 1
    )
    got = smtp_server.wait_for(1)
    assert len(smtp_server.wait_for(2, timeout=1)) == 1
    assert got[0].rcpt_tos == ["duty@city.example"]
    assert "新的严重告警" in got[0].message["Subject"] and "Ransomware" in got[0].message["Subject"]
    client.close()


def test_sla_breaches_are_announced_once(soc):
    alert_id = soc.new_alert(level="critical")
    with soc.db.write() as session:
        session.execute(
            update(Alert)
            .where(Alert.id == alert_id)
            .values(created_at=utcnow() - timedelta(minutes=20))
        )
    now = utcnow()
    with soc.db.write() as session:
        first = sla_breaches(session, now, DEFAULT_SLA)
    assert [(m["alert_id"], m["target"]) for m in first] == [(alert_id, "acknowledge")]
    with soc.db.write() as session:
        assert sla_breaches(session, now, DEFAULT_SLA) == []  # once
    with soc.db.write() as session:
        later = sla_breaches(session, now + timedelta(hours=4), DEFAULT_SLA)
    assert [(m["alert_id"], m["target"]) for m in later] == [(alert_id, "resolve")]
    # An acknowledged alert no longer breaches its acknowledge target.
    other = soc.new_alert(level="critical")
    soc.client.post(
        f"/api/v1/alerts/{other}/transition",
        headers=soc.headers("analyst"),
        json={"status": "acknowledged", "version": 1},
    )
    with soc.db.write() as session:
        session.execute(
            update(Alert).where(Alert.id == other).values(created_at=now - timedelta(minutes=20))
        )
        assert sla_breaches(session, now, DEFAULT_SLA) == []


def test_an_unreachable_smtp_server_does_not_fail_the_action(soc_sqlite):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mailer = MailNotifier(SmtpConfig(host="127.0.0.1", port=port, timeout=1))
    client = TestClient(create_app(soc_sqlite.db, hash_fn=sm3, notifier=mailer))
    alert_id = soc_sqlite.new_alert()
    with soc_sqlite.db.write() as session:
        session.execute(update(User).where(User.username == "bob").values(e_mail="b@x.example"))
    r = client.post(
        f"/api/v1/alerts/{alert_id}/assign",
        headers=soc_sqlite.headers("ana"),
        json={"assignee": "bob", "version": 1},
    )
    assert r.status_code == 200
    client.close()
