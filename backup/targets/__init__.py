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
    from backup.targets import local, memory, s3, sftp  # noqa: PLC0415

    register("local", local.from_url)
    register("memory", memory.from_url)
    register("sftp", sftp.from_url)
    register("s3", s3.from_url)
