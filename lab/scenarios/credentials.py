"""Credential attacks on city hosts' SSH, as the hosts' auth.log records them.

- ``credential-stuffing``: one address replays leaked user/password pairs for a handful of city
  accounts against a permits server, many failures, then one pair works and a session opens.
- ``password-spraying``: one address tries a single seasonal password once against many
  accounts (one of which no longer exists), staying under the per-account lockout and under the
  brute-force threshold.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from lab.craft import syslog
from lab.craft.timeline import spread, wait_until
from lab.scenarios.base import Scenario, Stage

BRUTE_FORCE = "6d5c0717-8082-5f0f-b4ea-ad2bbcb487f9"  # rules/ssh-brute-force.yml
SUCCESS_AFTER_FAILURES = "89146dca-0fc3-54da-8fc0-552a329c57a7"  # ssh-success-after-failures
PASSWORD_SPRAYING = "842f2cfc-5112-50e1-af9c-dd078f496c81"  # noqa: S105 - a rule id

#: Leaked (account, password) pairs tried in order; the last one is still valid.
LEAKED_PAIRS: tuple[tuple[str, str], ...] = (
    ("zhang.wei", "Zhangwei@2019"),
    ("li.na", "lina1988"),
    ("wang.fang", "Fang#2020"),
    ("ops-deploy", "deploy123"),
    ("zhang.wei", "zw19850312"),
    ("li.na", "Lina@city"),
    ("wang.fang", "wangfang123"),
    ("ops-deploy", "Deploy@2021"),
    ("zhang.wei", "Welcome1"),
    ("li.na", "li.na2022"),
    ("ops-deploy", "ops-deploy"),
    ("zhang.wei", "Zw@permits"),
    ("li.na", "Qwerty123"),
    ("wang.fang", "Wf@2023!"),
    ("wang.fang", "Wf@2024!"),  # the one that works
)
#: Accounts the sprayer targets; ``chen.jie`` left the city administration (invalid user).
SPRAY_ACCOUNTS = (
    "zhao.lei",
    "sun.li",
    "zhou.min",
    "wu.hao",
    "chen.jie",
    "liu.yang",
    "huang.qing",
)
DEPARTED = frozenset({"chen.jie"})


class CredentialStuffing(Scenario):
    """Fifteen leaked pairs for four accounts from one address; the last one logs in."""

    name: ClassVar[str] = "credential-stuffing"
    title: ClassVar[str] = "Credential stuffing on a permits server's SSH, ending in a login"
    techniques: ClassVar[tuple[str, ...]] = ("T1110.004", "T1078")
    expects: ClassVar[tuple[str, ...]] = (BRUTE_FORCE, SUCCESS_AFTER_FAILURES)

    host = "permits-web01"
    attacker = "198.51.100.77"

    def play(self, stage: Stage) -> None:
        start = stage.now()
        failures = LEAKED_PAIRS[:-1]
        moments = spread(start, len(failures), 1.0)
        lines: list[str] = []
        for i, ((user, _password), moment) in enumerate(zip(failures, moments, strict=True)):
            pid, port = 31000 + i, 51000 + 7 * i
            lines.append(syslog.ssh_pam_failure(moment, self.host, pid, user, self.attacker))
            lines.append(
                syslog.ssh_failed_password(moment, self.host, pid, user, self.attacker, port)
            )
            lines.append(
                syslog.ssh_preauth_closed(moment, self.host, pid, user, self.attacker, port)
            )
        # The working pair comes a second and a half later: a login strictly after the failures.
        success = start + timedelta(seconds=1.5)
        user = LEAKED_PAIRS[-1][0]
        pid, port = 31100, 52000
        lines.append(syslog.ssh_accepted(success, self.host, pid, user, self.attacker, port))
        lines.append(syslog.ssh_session_opened(success, self.host, pid, user, 1004))
        wait_until(success)
        stage.log("permits-web01/auth.log", lines, "auth")
        stage.note(
            f"{len(failures)} failed SSH logins for {len({u for u, _ in failures})} accounts "
            f"from {self.attacker} on {self.host}, then {user} logged in"
        )


class PasswordSpraying(Scenario):
    """One password against seven accounts on three hosts, once each, from one address."""

    name: ClassVar[str] = "password-spraying"
    title: ClassVar[str] = "One password sprayed across city accounts over SSH"
    techniques: ClassVar[tuple[str, ...]] = ("T1110.003",)
    expects: ClassVar[tuple[str, ...]] = (PASSWORD_SPRAYING,)

    hosts = ("hr-app01", "tax-app02", "permits-web01")
    attacker = "203.0.113.45"

    def play(self, stage: Stage) -> None:
        moments = spread(stage.now(), len(SPRAY_ACCOUNTS), 0.8)
        by_host: dict[str, list[str]] = {host: [] for host in self.hosts}
        for i, (user, moment) in enumerate(zip(SPRAY_ACCOUNTS, moments, strict=True)):
            host = self.hosts[i % len(self.hosts)]
            pid, port = 22000 + i, 40100 + 3 * i
            lines = by_host[host]
            if user in DEPARTED:
                lines.append(syslog.ssh_invalid_user(moment, host, pid, user, self.attacker, port))
                lines.append(
                    syslog.ssh_failed_password(
                        moment, host, pid, user, self.attacker, port, invalid=True
                    )
                )
            else:
                lines.append(syslog.ssh_pam_failure(moment, host, pid, user, self.attacker))
                lines.append(
                    syslog.ssh_failed_password(moment, host, pid, user, self.attacker, port)
                )
            lines.append(
                syslog.ssh_preauth_closed(
                    moment, host, pid, user, self.attacker, port, invalid=user in DEPARTED
                )
            )
        wait_until(moments[-1])
        for host, lines in by_host.items():
            stage.log(f"{host}/auth.log", lines, "auth")
        stage.note(
            f"one password tried against {len(SPRAY_ACCOUNTS)} accounts on "
            f"{len(self.hosts)} hosts from {self.attacker}"
        )


SCENARIOS: tuple[type[Scenario], ...] = (CredentialStuffing, PasswordSpraying)
