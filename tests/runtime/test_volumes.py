from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.volumes import (
    EfsMount,
    EfsUri,
    Volume,
    VolumeConfiguration,
    VolumeError,
    container_to_efs,
    efs_to_local,
)

VOLUMES = VolumeConfiguration(file_system_id="fs-123", use_tmp_volume=True).volumes()


def test_efs_uri_round_trip() -> None:
    uri = EfsUri.parse("efs://fs-123:/scratch/a b/c")
    assert (uri.file_system_id, uri.path) == ("fs-123", "/scratch/a b/c")
    assert str(uri) == "efs://fs-123:/scratch/a b/c"
    assert str(uri.joinpath("d")) == "efs://fs-123:/scratch/a b/c/d"


@pytest.mark.parametrize("bad", ["fs-1:/x", "efs://fs-1", "efs://fs-1:relative", "s3://b/k"])
def test_malformed_efs_uris(bad: str) -> None:
    with pytest.raises(VolumeError):
        EfsUri.parse(bad)


def test_container_and_efs_views() -> None:
    assert str(container_to_efs("/opt/efs/scratch/x/y", VOLUMES)) == "efs://fs-123:/scratch/x/y"
    assert str(container_to_efs("/opt/efs/shared", VOLUMES)) == "efs://fs-123:/shared"
    with pytest.raises(VolumeError):
        container_to_efs("/etc/passwd", VOLUMES)
    with pytest.raises(ValueError, match=r"without '\.\.'"):
        container_to_efs("/opt/efs/scratch/../../etc", VOLUMES)


def test_local_view_through_mounts(tmp_path: Path) -> None:
    mounts = [
        EfsMount(file_system_id="fs-123", local_path=tmp_path / "root"),
        EfsMount(file_system_id="fs-123", efs_path="/shared", local_path=tmp_path / "cache"),
    ]
    assert efs_to_local("efs://fs-123:/scratch/a", mounts) == tmp_path / "root/scratch/a"
    # The most specific mount wins.
    assert efs_to_local("efs://fs-123:/shared/k", mounts) == tmp_path / "cache/k"
    with pytest.raises(VolumeError):
        efs_to_local("efs://fs-other:/scratch/a", mounts)


SEGMENT = st.text(st.characters(exclude_characters="/\x00"), min_size=1, max_size=12).filter(
    lambda s: s not in {".", ".."}
)


@given(volume=st.sampled_from(VOLUMES), parts=st.lists(SEGMENT, max_size=4))
def test_container_efs_local_agree(volume: Volume, parts: list[str]) -> None:
    container = "/".join([volume.container_path, *parts])
    mounts = [EfsMount(file_system_id="fs-123", local_path=Path("/mnt/efs"))]
    local = efs_to_local(container_to_efs(container, VOLUMES), mounts)
    assert local == Path("/mnt/efs", volume.efs_path.lstrip("/"), *parts)
