"""Blob storage in an S3-compatible object store (AWS S3, MinIO, Ceph), shared by every host.

Credentials come from boto3's standard chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an
instance role). Big files go through boto3's transfer manager, which splits them into multipart transfers.
Work is staged in a local directory below the cache and uploaded by :meth:`S3Storage.publish`.
"""

import re
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import SplitResult

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.core.storage.base import Storage, StorageError, StoredObject, check_key, staged_files
from app.core.storage.registry import Backend, StorageOptions, register_backend

BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
MULTIPART_BYTES = 64 * 1024**2
DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
# Retries with backoff ride out a blip; a longer outage fails the operation with StorageError, and a job
# attempt that fails so is retried from its last stored checkpoint.
CLIENT_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60)


def s3_client(*, endpoint_url: str | None, region: str | None) -> Any:
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=CLIENT_CONFIG)


class S3Storage(Storage):
    def __init__(
        self,
        client: Any,
        *,
        bucket: str,
        prefix: str,
        staging_root: Path,
        multipart_bytes: int = MULTIPART_BYTES,
    ) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")
        self.staging_root = staging_root
        self.transfer = TransferConfig(multipart_threshold=multipart_bytes, multipart_chunksize=multipart_bytes)
        where = client.meta.endpoint_url
        self.description = f"object store s3://{bucket}/{self.prefix} at {where}"

    def _full(self, key: str) -> str:
        key = check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _short(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """Name the store in every failure; an absent key is FileNotFoundError, as for files."""
        try:
            yield
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in MISSING_CODES:
                raise FileNotFoundError(f"{key!r} is not in the {self.description}") from exc
            raise StorageError(f"{self.description}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{self.description} did not answer: {exc}") from exc

    def put_file(self, local_path: Path, key: str) -> None:
        with self._errors(key):
            self.client.upload_file(str(local_path), self.bucket, self._full(key), Config=self.transfer)

    def fetch_file(self, key: str, local_path: Path) -> None:
        # The transfer manager writes a temporary file and renames it: a failed download leaves nothing.
        with self._errors(key):
            self.client.download_file(self.bucket, self._full(key), str(local_path), Config=self.transfer)

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        with self._errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]
        return cast(AbstractContextManager[BinaryIO], closing(body))

    def list(self, prefix: str) -> list[StoredObject]:
        found = []
        with self._errors(prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._full(prefix) + "/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(StoredObject(self._short(item["Key"]), int(item["Size"]), item["ETag"].strip('"')))
        return sorted(found, key=lambda item: item.key)

    def delete(self, key: str) -> None:
        keys = [self._full(key)] + [self._full(item.key) for item in self.list(key)]
        with self._errors(key):
            for start in range(0, len(keys), DELETE_BATCH):
                batch = [{"Key": k} for k in keys[start : start + DELETE_BATCH]]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def exists(self, key: str) -> bool:
        try:
            with self._errors(key):
                self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except FileNotFoundError:
            return False
        return True

    def publish(self, staged: Path, prefix: str) -> None:
        """Upload every staged file; the prefix is complete once this returns (readers list it after)."""
        check_key(prefix)
        for path, relative in staged_files(staged):
            self.put_file(path, f"{prefix}/{relative}")
        shutil.rmtree(staged, ignore_errors=True)


def parse_s3_url(url: SplitResult) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (bucket, prefix); ValueError naming the problem."""
    shown = f"{url.scheme}://{url.netloc}{url.path}"
    if url.scheme != "s3" or not BUCKET_PATTERN.match(url.netloc):
        raise ValueError(f"{shown!r}: an s3:// URL needs a bucket name of 3-63 lowercase letters, digits, '.' or '-'")
    prefix = url.path.strip("/")
    if url.query or url.fragment or (prefix and check_key(prefix) != prefix):
        raise ValueError(f"{shown!r}: the prefix must be a plain relative path")
    return url.netloc, prefix


def _check(url: SplitResult) -> None:
    try:
        parse_s3_url(url)
    except ValueError as exc:
        raise ValueError(f"SELFSUP_STORAGE_URL {exc}") from None


def _open(url: SplitResult, options: StorageOptions) -> Storage:
    bucket, prefix = parse_s3_url(url)
    client = s3_client(endpoint_url=options.s3_endpoint_url, region=options.s3_region)
    return S3Storage(client, bucket=bucket, prefix=prefix, staging_root=options.staging_root)


register_backend("s3", Backend(check=_check, open=_open))
