"""A normal working morning on city hosts: it must raise no alert at all.

``benign-day`` writes what the same sources record on an ordinary day:

- auth.log of three servers: administrators logging in with keys or passwords from their
  workstations (one mistypes the password twice before getting in: normal, far under the five
  failures "SSH login succeeds after failures" needs), routine ``sudo`` (service status and
  restarts, reading logs), cron sessions;
- auditd on the application server: the same routine commands, cron jobs, logrotate rotating a
  handful of logs (renames, far under the ransomware threshold);
- a capture at the LAN core: workstations resolving city and vendor names through the city
  resolver and browsing the permits portal over HTTP.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from scapy.packet import Packet

from lab.craft import auditd, syslog
from lab.craft.auditd import Actor
from lab.craft.packets import dns_exchange, http_get, http_ok, tcp_session
from lab.craft.timeline import wait_until
from lab.scenarios.base import Scenario, Stage

RESOLVER = "10.20.0.53"
PORTAL = "10.20.0.80"
#: (admin, uid, workstation) who log in today.
ADMINS = (("zhao.lei", 1011, "10.20.31.21"), ("sun.li", 1012, "10.20.31.22"))
SERVERS = ("permits-web01", "hr-app01", "tax-app02")
SUDO_COMMANDS = (
    "/usr/bin/systemctl status nginx",
    "/usr/bin/journalctl -u permits-api --since today",
    "/usr/bin/systemctl restart permits-api",
    "/usr/bin/tail -n 200 /var/log/nginx/error.log",
    "/usr/bin/apt list --upgradable",
)
#: Names the workstations resolve (city services, vendors, updates).
LOOKUPS = (
    "portal.city.gov",
    "permits.city.gov",
    "mail.city.gov",
    "oa.city.gov",
    "www.gov.cn",
    "security.debian.org",
    "deb.debian.org",
    "time.city.gov",
)
PAGES = ("/", "/permits/status?id=20260311", "/static/app.css", "/permits/new", "/help")
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
ROUTINE = (
    (("ls", "-la", "/var/log/nginx"), "/usr/bin/ls"),
    (("systemctl", "status", "nginx"), "/usr/bin/systemctl"),
    (("df", "-h"), "/usr/bin/df"),
    (("/usr/lib/sysstat/debian-sa1", "1", "1"), "/usr/bin/dash"),
    (("python3", "/opt/permits/manage.py", "clearsessions"), "/usr/bin/python3.11"),
    (("logrotate", "/etc/logrotate.conf"), "/usr/sbin/logrotate"),
)
ROTATED = ("access.log", "error.log", "permits-api.log")


class BenignDay(Scenario):
    """Ordinary logins, sudo, cron, lookups and browsing; nothing an analyst should see."""

    name: ClassVar[str] = "benign-day"
    title: ClassVar[str] = "An ordinary working morning on city hosts"

    def play(self, stage: Stage) -> None:
        start = stage.now()
        for index, host in enumerate(SERVERS):
            stage.log(f"{host}/auth.log", self._auth(host, index, start), "auth")
        stage.log("permits-web01/audit.log", self._audit(start), "auditd")
        stage.pcap("lan-core.pcap", self._traffic(start.timestamp()))
        wait_until(start + timedelta(seconds=1.5))  # the login after the typos
        stage.note(
            f"{len(ADMINS)} admins on {len(SERVERS)} servers, {len(SUDO_COMMANDS)} sudo commands, "
            f"{len(ROUTINE)} routine commands, {len(LOOKUPS)} names resolved, "
            f"{len(PAGES)} portal pages"
        )

    @staticmethod
    def _auth(host: str, index: int, start: datetime) -> list[str]:
        lines: list[str] = []
        at = start
        for n, (admin, uid, workstation) in enumerate(ADMINS):
            pid, port = 40100 + 10 * index + n, 50200 + 31 * index + n
            key = n == 0 or index == 1  # most admins use keys, one types a password on hr-app01
            if not key and index == 2:
                # Two typos, then the right password a moment later (sshd logs whole seconds).
                for _ in range(2):
                    lines.append(syslog.ssh_pam_failure(at, host, pid, admin, workstation))
                    lines.append(
                        syslog.ssh_failed_password(at, host, pid, admin, workstation, port)
                    )
                at += timedelta(seconds=1.2)
            lines.append(
                syslog.ssh_accepted(
                    at, host, pid, admin, workstation, port,
                    method="publickey" if key else "password",
                    fingerprint=f"q8b2{admin.replace('.', '')}Yx0kT7" if key else None,
                )
            )  # fmt: skip
            lines.append(syslog.ssh_session_opened(at, host, pid, admin, uid))
            for command in SUDO_COMMANDS[index : index + 2]:
                lines.append(syslog.sudo_command(at, host, admin, f"/home/{admin}", command))
                lines.append(syslog.sudo_session_opened(at, host, pid + 500, admin, uid))
                lines.append(syslog.sudo_session_closed(at, host, pid + 500))
            lines += syslog.cron_session(at, host, 3000 + n, "root", 0)
            lines.append(syslog.ssh_disconnected(at, host, pid, admin, workstation, port))
            lines.append(syslog.ssh_session_closed(at, host, pid, admin))
            at += timedelta(milliseconds=150)
        return lines

    @staticmethod
    def _audit(start: datetime) -> list[str]:
        admin = Actor("permits-web01", uid=1011, auid=1011, user="zhao.lei", login="zhao.lei")
        cron = Actor("permits-web01", uid=0, auid=4294967295, user="root", login="unset")
        lines: list[str] = []
        serial = 3300
        for i, (argv, exe) in enumerate(ROUTINE):
            actor = admin if i < 3 else cron
            moment = start + timedelta(milliseconds=60 * i)
            lines += auditd.execve(actor, moment, serial, argv, exe, cwd="/", pid=5100 + i)
            serial += 1
        for i, log in enumerate(ROTATED):
            old = f"/var/log/nginx/{log}"
            lines += auditd.rename(
                cron, start + timedelta(milliseconds=400 + 10 * i), serial, old, old + ".1",
                exe="/usr/sbin/logrotate", argv=("logrotate", "/etc/logrotate.conf"), pid=5105,
            )  # fmt: skip
            serial += 1
        return lines

    @staticmethod
    def _traffic(t0: float) -> list[Packet]:
        packets: list[Packet] = []
        step = 0
        for n, (_, _, workstation) in enumerate(ADMINS):
            for name in LOOKUPS:
                answer = PORTAL if name.endswith("city.gov") else "151.101.2.132"
                packets += dns_exchange(
                    t0 + 0.02 * step, workstation, RESOLVER, 49200 + step, name,
                    ident=0x2000 + step, answers=[("A", answer)],
                )  # fmt: skip
                step += 1
            for page in PAGES:
                body = f"<html><body>permits portal {page}</body></html>".encode()
                packets += tcp_session(
                    t0 + 0.02 * step, workstation, PORTAL, 52300 + step + 100 * n, 80,
                    http_get("portal.city.gov", page, BROWSER), http_ok(body),
                )  # fmt: skip
                step += 1
        return sorted(packets, key=lambda p: float(p.time))


SCENARIOS: tuple[type[Scenario], ...] = (BenignDay,)
