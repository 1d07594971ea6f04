"""Backup targets: where a repository's files live. See :mod:`backup.targets.base`."""

from __future__ import annotations

from backup.targets.base import FileInfo, Target, check_name, open_target, register, schemes

__all__ = ["FileInfo", "Target", "check_name", "load_builtin", "open_target", "register", "schemes"]

_loaded = False


def load_builtin() -> None:
    """Register the built-in target kinds (explicitly, once; no plugin discovery)."""
    global _loaded  # noqa: PLW0603 - registration happens once per process
    if _loaded:
        return
    _loaded = True
    from backup.targets import local, memory  # noqa: PLC0415

    register("local", local.from_url)
    register("memory", memory.from_url)
    register("sftp", _open_sftp)
    register("s3", _open_s3)


# paramiko and boto3 take ~0.8 s to import: only a repository that uses them pays for it.


def _open_sftp(url: str, options: dict[str, str]) -> Target:
    from backup.targets import sftp  # noqa: PLC0415

    return sftp.from_url(url, options)


def _open_s3(url: str, options: dict[str, str]) -> Target:
    from backup.targets import s3  # noqa: PLC0415

    return s3.from_url(url, options)
