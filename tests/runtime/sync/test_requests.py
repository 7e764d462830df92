"""No more requests per object than the decision needs (counted on the boto3 client)."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.sync.api import sync
from runtime.sync.model import SyncRequest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def counted(client: S3Client) -> collections.Counter[str]:
    calls: collections.Counter[str] = collections.Counter()

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.rpartition(".")[2]] += 1

    client.meta.events.register("before-call.s3.*", count)
    return calls


def test_a_single_object_is_one_head_and_one_get(moto_client: S3Client, tmp_path: Path) -> None:
    moto_client.put_object(Bucket="data", Key="one.bin", Body=b"x" * 1000)
    calls = counted(moto_client)
    target = str(tmp_path / "one.bin")
    assert (
        sync(
            SyncRequest(source="s3://data/one.bin", destination=target), s3=moto_client
        ).transferred
        == 1
    )
    assert calls == {"HeadObject": 1, "GetObject": 1}
    calls.clear()
    again = sync(SyncRequest(source="s3://data/one.bin", destination=target), s3=moto_client)
    assert again.skipped == 1
    assert calls == {"HeadObject": 1}


def test_a_prefix_is_one_listing_per_page_and_one_get_per_object(
    moto_client: S3Client, tmp_path: Path
) -> None:
    for index in range(5):
        moto_client.put_object(Bucket="data", Key=f"in/{index}.txt", Body=b"%d" % index)
    calls = counted(moto_client)
    request = SyncRequest(source="s3://data/in/", destination=str(tmp_path / "out"))
    assert sync(request, s3=moto_client).transferred == 5
    assert calls == {"ListObjectsV2": 1, "GetObject": 5}
    calls.clear()
    assert sync(request, s3=moto_client).skipped == 5
    assert calls == {"ListObjectsV2": 1}
