"""Recordings kept in an S3-compatible object store, over real HTTP to a local S3 server (moto's
server mode on 127.0.0.1): every finished file is uploaded byte for byte, and deleting a
student's media deletes their objects too."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from typing import Iterator

import boto3
import pytest

from client import ClientOptions
from recording.manifest import read_manifest
from recording.storage import S3Storage, storage_from_url
from tests.conftest import free_port, loopback_settings, running_aula
from tests.media.test_forwarding import join
from tests.synthetic import EncodedToneTrack

BUCKET = "school-recordings"


@pytest.fixture
def s3_endpoint(monkeypatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    port = free_port()
    process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "moto_server did not start"
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield endpoint
    process.terminate()
    process.wait(10)


def test_storage_urls_are_checked():
    for bad in ("https://bucket/x", "s3://", "s3://b/p?endpoint=http://x&colour=red"):
        with pytest.raises(ValueError):
            storage_from_url(bad)
    storage = storage_from_url("s3://b/school-a/?endpoint=http://127.0.0.1:9&region=eu-west-1")
    assert isinstance(storage, S3Storage) and storage.key("ses_1", "a.ogg") == "school-a/sessions/ses_1/a.ogg"


async def test_finished_recordings_go_to_the_object_store_and_deletions_follow(redis_server, tmp_path, s3_endpoint):
    settings = loopback_settings(redis_server.url, tmp_path / "data",
                                 recording_storage=f"s3://{BUCKET}/school-a?endpoint={s3_endpoint}&region=us-east-1")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    async with running_aula(settings) as server:
        session = await server.create_session(settings={"recording": True})
        clients = [await join(server, session["id"], who, publish={"microphone": EncodedToneTrack(440)},
                              options=ClientOptions(decode=False)) for who in ("ann", "bob")]
        await asyncio.sleep(2.0)
        for client in clients:
            await client.close()
        await server.end_session(session["id"])
        folder = server.data_dir / "sessions" / session["id"] / "recordings"
        tracks = {t.participant: t for t in read_manifest(folder)}
        for track in tracks.values():
            key = f"school-a/sessions/{session['id']}/{track.file}"
            assert track.stored_at == f"s3://{BUCKET}/{key}"
            stored = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            assert stored == (folder / track.file).read_bytes() and len(stored) > 1000

        async with server.http.delete(f"{server.base_url}/api/sessions/{session['id']}/recordings/ann",
                                      headers=server.headers) as response:
            assert response.status == 200
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
        assert keys == {f"school-a/sessions/{session['id']}/{tracks['bob'].file}"}
