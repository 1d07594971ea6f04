"""The S3-compatible object storage target (boto3).

URL: ``s3://HOST[:PORT]/BUCKET[/PREFIX]``. Per-site options (never in the URL): ``scheme``
(``https`` default, ``http`` for a loopback test server), ``region`` (default ``us-east-1``),
and the *names* of the environment variables holding the credentials, ``access_key_env`` and
``secret_key_env`` (default ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``).

A PUT is atomic in S3. No-replace writes use a conditional PUT (``If-None-Match: *``, part of
the S3 API since 2024); a server that ignores the condition is caught by a HEAD first, which
narrows but cannot close the race, so such servers are only safe with one writer (the lock).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backup.targets.base import KINDS, FileInfo, check_name, relative_path
from tulou.errors import ConfigError, InputError, NotFoundError, UnavailableError

_MISSING = {"404", "NoSuchKey", "NotFound"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Target:
    """A repository under a prefix of one bucket."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        prefix: str,
        *,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3:{endpoint}/{bucket}/{self.prefix}".rstrip("/")
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
            ),
        )

    def _key(self, kind: str, name: str) -> str:
        rel = relative_path(kind, name)
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFoundError(f"{what} does not exist at {self.location}") from exc
            if _code(exc) in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                raise FileExistsError(f"{what} already exists at {self.location}") from exc
            raise UnavailableError(f"{self.location}: {method} {what}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise UnavailableError(f"cannot reach {self.location}: {exc}") from exc

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (used by ``backup init``)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._call("bucket", "create_bucket")
        except BotoCoreError as exc:
            raise UnavailableError(f"cannot reach {self.location}: {exc}") from exc

    def save(self, kind: str, name: str, data: bytes) -> None:
        what = f"{kind}/{name}"
        key = self._key(kind, name)
        try:
            self._call(what, "head_object", Key=key)
        except NotFoundError:
            pass
        else:
            raise FileExistsError(f"{what} already exists at {self.location}")
        self._call(what, "put_object", Key=key, Body=data, IfNoneMatch="*")

    def load(self, kind: str, name: str, offset: int = 0, length: int | None = None) -> bytes:
        what = f"{kind}/{name}"
        kwargs: dict[str, Any] = {"Key": self._key(kind, name)}
        if length is not None:
            if length == 0:
                self.stat(kind, name)
                return b""
            kwargs["Range"] = f"bytes={offset}-{offset + length - 1}"
        elif offset:
            kwargs["Range"] = f"bytes={offset}-"
        try:
            response = self._call(what, "get_object", **kwargs)
        except UnavailableError as exc:
            if "InvalidRange" in str(exc):
                raise InputError(f"{what}: range {offset}+{length} beyond the object") from exc
            raise
        data = bytes(response["Body"].read())
        if length is not None and len(data) != length:
            raise InputError(f"{what}: short read ({len(data)} of {length} bytes)")
        return data

    def stat(self, kind: str, name: str) -> FileInfo:
        head = self._call(f"{kind}/{name}", "head_object", Key=self._key(kind, name))
        return FileInfo(name, int(head["ContentLength"]))

    def list(self, kind: str) -> Iterator[FileInfo]:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        folder = kind if kind != "config" else ""
        prefix = f"{self.prefix}/{folder}" if self.prefix else folder
        if kind != "config":
            prefix = prefix.rstrip("/") + "/"
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    name = str(item["Key"]).rsplit("/", 1)[-1]
                    if kind == "config" and item["Key"] != self._key("config", "config"):
                        continue
                    if name.startswith("."):
                        continue
                    yield FileInfo(name, int(item["Size"]))
        except ClientError as exc:
            raise UnavailableError(f"{self.location}: list {kind}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise UnavailableError(f"cannot reach {self.location}: {exc}") from exc

    def remove(self, kind: str, name: str) -> None:
        check_name(kind, name)
        self.stat(kind, name)  # S3 deletes of missing keys succeed; the contract says raise
        self._call(f"{kind}/{name}", "delete_object", Key=self._key(kind, name))

    def close(self) -> None:
        self._client.close()


def from_url(url: str, options: dict[str, str]) -> S3Target:
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ConfigError("an s3 target URL must not contain credentials; use environment vars")
    path = parts.path.strip("/")
    if not parts.hostname or not path:
        raise ConfigError("s3 target URL must look like s3://host[:port]/bucket[/prefix]")
    bucket, _, prefix = path.partition("/")
    scheme = options.get("scheme", "https")
    if scheme not in ("http", "https"):
        raise ConfigError("s3 option 'scheme' must be http or https")
    access_env = options.get("access_key_env", "AWS_ACCESS_KEY_ID")
    secret_env = options.get("secret_key_env", "AWS_SECRET_ACCESS_KEY")
    access, secret = os.environ.get(access_env), os.environ.get(secret_env)
    if not access or not secret:
        raise ConfigError(f"set {access_env} and {secret_env} for {parts.hostname}")
    endpoint = f"{scheme}://{parts.netloc}"
    return S3Target(
        endpoint,
        bucket,
        prefix,
        access_key=access,
        secret_key=secret,
        region=options.get("region", "us-east-1"),
    )
