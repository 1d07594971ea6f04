"""Backup targets: where a repository's files live. See :mod:`backup.targets.base`.

Targets are opened by URL (the one grammar of :mod:`tulou.registry`): ``local:PATH`` or a bare
path, ``memory:LABEL``, ``sftp://user@host[:port]/path``, ``s3://host[:port]/bucket[/prefix]``.
The registry is built explicitly by :func:`default_targets` (nothing registers on import);
paramiko and boto3 take ~0.8 s to import, so a factory imports its module only when used.
"""

from __future__ import annotations

from backup.targets.base import FileInfo, Target, TargetFactory, check_name
from tulou.registry import Registry, split_url

__all__ = ["FileInfo", "Target", "TargetFactory", "check_name", "default_targets", "open_target"]


def _local(url: str, options: dict[str, str]) -> Target:
    from backup.targets import local  # noqa: PLC0415

    return local.from_url(url, options)


def _memory(url: str, options: dict[str, str]) -> Target:
    from backup.targets import memory  # noqa: PLC0415

    return memory.from_url(url, options)


def _sftp(url: str, options: dict[str, str]) -> Target:
    from backup.targets import sftp  # noqa: PLC0415

    return sftp.from_url(url, options)


def _s3(url: str, options: dict[str, str]) -> Target:
    from backup.targets import s3  # noqa: PLC0415

    return s3.from_url(url, options)


def default_targets() -> Registry[TargetFactory]:
    """The built-in target kinds, by URL scheme."""
    return Registry(
        "backup target", [("local", _local), ("memory", _memory), ("sftp", _sftp), ("s3", _s3)]
    )


def open_target(
    url: str,
    options: dict[str, str] | None = None,
    registry: Registry[TargetFactory] | None = None,
) -> Target:
    """Open the target named by ``url`` (see the module docstring).

    ``options`` carries per-site settings that are not part of the URL (key files, credential
    environment variable names); credentials never appear in the URL itself.
    """
    parsed = split_url(url, default="local")
    factory = (registry or default_targets()).get(parsed.scheme)
    canonical = url if parsed.network else f"{parsed.scheme}:{parsed.location}"
    return factory(canonical, dict(options or {}))
