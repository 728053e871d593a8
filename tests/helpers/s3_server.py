"""A real S3-compatible server on loopback (moto in server mode) for object-storage tests.

The code under test reaches S3 through s3fs exactly as it would reach AWS: HTTP
requests signed with credentials from the environment, to the endpoint botocore
reads from ``AWS_ENDPOINT_URL_S3``. moto answers those requests from memory in a
thread of the test process, so nothing leaves the machine and nothing is mocked
inside the code under test.

Use the ``s3_bucket`` fixture (``tests/conftest.py``): it starts one server per
session on first use, creates a fresh bucket per test, and points the
environment at the server through ``monkeypatch`` so no variable outlives the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from helpers.live_server import LOOPBACK, free_port

#: Credentials moto accepts; any non-empty values would do.
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
#: Variables that could make botocore use something other than the test server's credentials.
_CLEARED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "FSSPEC_S3")


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """Run moto's S3 server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.stop()


def point_s3_at(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make boto3 and s3fs talk to ``endpoint`` with the test credentials, for this test only."""
    import s3fs

    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    # fsspec caches filesystem instances by their options, not by the environment.
    s3fs.S3FileSystem.clear_instance_cache()


def create_bucket(endpoint: str, name: str | None = None) -> str:
    """Create a bucket on the server (a fresh unique name by default); returns its name."""
    import boto3

    bucket = name or f"mlops-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    client.create_bucket(Bucket=bucket)
    return bucket


def list_keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    """Every key under ``prefix``, read with boto3 (not s3fs), to check what really is on the server."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)
