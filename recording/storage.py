"""Where finished recordings go besides the node's data dir: behind one small interface.

`LocalStorage` (the default) keeps them only in `<data-dir>/sessions/{id}/recordings/`.
`S3Storage` also uploads each finished file (and the export) to an S3-compatible object store
(AWS S3, MinIO, Ceph, ...), so recordings outlive the node; deletions (a student's media,
retention) reach it too. Configured by one URL:

    s3://BUCKET/PREFIX?endpoint=https://minio.internal:9000&region=eu-west-1

with credentials from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile,
an instance role). Calls block: run them off the event loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Protocol
from urllib.parse import parse_qs, urlsplit


class RecordingStorage(Protocol):
    def store(self, session_id: str, path: Path) -> Optional[str]:
        """Keep a finished file of the session; returns where it now also is (None: nowhere)."""
        ...

    def delete(self, session_id: str, name: str) -> None:
        """Forget a file stored before (missing is fine)."""
        ...


class LocalStorage:
    def store(self, session_id: str, path: Path) -> Optional[str]:
        return None

    def delete(self, session_id: str, name: str) -> None:
        return None


class S3Storage:
    def __init__(self, bucket: str, prefix: str = "", endpoint: Optional[str] = None,
                 region: Optional[str] = None) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client = boto3.client("s3", endpoint_url=endpoint, region_name=region)

    def key(self, session_id: str, name: str) -> str:
        return f"{self.prefix}sessions/{session_id}/{name}"

    def store(self, session_id: str, path: Path) -> Optional[str]:
        key = self.key(session_id, path.name)
        self._client.upload_file(str(path), self.bucket, key)
        return f"s3://{self.bucket}/{key}"

    def delete(self, session_id: str, name: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self.key(session_id, name))


def storage_from_url(url: Optional[str]) -> RecordingStorage:
    if not url:
        return LocalStorage()
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"recording storage must be s3://BUCKET/PREFIX?endpoint=...&region=..., not {url!r}")
    query = parse_qs(parts.query)
    unknown = set(query) - {"endpoint", "region"}
    if unknown:
        raise ValueError(f"recording storage: unknown parameters {', '.join(sorted(unknown))}")
    return S3Storage(parts.netloc, parts.path, query.get("endpoint", [None])[0],
                     query.get("region", [None])[0])
