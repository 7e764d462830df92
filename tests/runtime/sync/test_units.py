"""Pure parts of the engine: locations, filters, listings, cursors, ledger, settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.sync import listing
from runtime.sync.cursor import Cursor
from runtime.sync.errors import InvalidCursorError, SyncLocationError, SyncSettingsError
from runtime.sync.filters import PathFilter
from runtime.sync.ledger import Ledger
from runtime.sync.listing import Entry, merge, walk_local
from runtime.sync.locations import LocalLocation, S3Location, parse_location
from runtime.sync.model import SyncRequest
from runtime.sync.s3xml import (
    delete_request,
    parse_delete_errors,
    parse_error,
    parse_initiate,
    parse_listing,
)
from runtime.sync.settings import MiB, S3Config, check_tuning, parse_size
from runtime.volumes import EfsMount, VolumeError, resolve_location


class TestLocations:
    def test_s3(self) -> None:
        assert parse_location("s3://bucket/a/b.txt") == S3Location("bucket", "a/b.txt")
        assert parse_location("s3://bucket").names_prefix  # type: ignore[union-attr]
        assert parse_location("s3://bucket/dir/").names_prefix  # type: ignore[union-attr]

    def test_paths_and_file_uris(self, tmp_path: Path) -> None:
        plain = parse_location(f"{tmp_path}/x/")
        assert isinstance(plain, LocalLocation)
        assert plain.path == tmp_path / "x"
        assert plain.names_directory
        uri = parse_location(f"file://{tmp_path}/with%20space")
        assert isinstance(uri, LocalLocation)
        assert uri.path == tmp_path / "with space"

    def test_efs_through_mounts(self, tmp_path: Path) -> None:
        mounts = [EfsMount(file_system_id="fs-1", efs_path="/", local_path=tmp_path)]
        location = parse_location(resolve_location("efs://fs-1:/shared/abc", mounts))
        assert isinstance(location, LocalLocation)
        assert location.path == tmp_path / "shared" / "abc"

    @pytest.mark.parametrize(
        "text",
        ["s3://", "s3://b/x", "s3://bucket//x", "http://host/x", "file://host/x", "file://rel", ""],
    )
    def test_bad_locations(self, text: str) -> None:
        with pytest.raises(SyncLocationError):
            parse_location(text)

    def test_efs_without_mount(self) -> None:
        with pytest.raises(VolumeError, match="fs-9"):
            resolve_location("efs://fs-9:/x", [])
        with pytest.raises(SyncLocationError, match="fs-9"):  # the engine resolves no efs://
            parse_location("efs://fs-9:/x")


class TestFilters:
    def test_everything_by_default(self) -> None:
        assert PathFilter()("any/thing")

    def test_later_filter_wins(self) -> None:
        # The AWS CLI's own examples ("Use of Exclude and Include Filters").
        only_txt = PathFilter([("exclude", "*"), ("include", "*.txt")])
        assert only_txt("foo.txt")
        assert only_txt("a/b/c.txt")  # * crosses directories, as in aws s3 sync
        assert not only_txt("baz.jpg")
        nothing = PathFilter([("include", "*.txt"), ("exclude", "*")])
        assert not nothing("foo.txt")

    def test_include_alone_changes_nothing(self) -> None:
        assert PathFilter([("include", "*.csv")])("x.bin")
        assert PathFilter.ineffective_includes(
            [("include", "a"), ("exclude", "*"), ("include", "b")]
        ) == ["a"]

    def test_mixed_rules(self) -> None:
        select = PathFilter(
            [("exclude", "*"), ("include", "*.csv"), ("include", "keep/*"), ("exclude", "*tmp*")]
        )
        assert select("a/b/c.csv")
        assert select("keep/x.bin")
        assert not select("x.bin")
        assert not select("tmp/c.csv")
        assert not select("keep/tmp")

    @pytest.mark.parametrize("rule", [("only", "*"), ("include",), ("include", 3)])
    def test_bad_rules_are_refused(self, rule: tuple[object, ...]) -> None:
        with pytest.raises(ValueError, match="filter"):
            SyncRequest(source="a", destination="b", filters=(rule,))  # type: ignore[arg-type]


@st.composite
def trees(draw: st.DrawFn) -> list[str]:
    segment = st.text(alphabet="ab-_.Z/ é", min_size=1, max_size=3).filter(
        lambda s: "/" not in s and s not in (".", "..")
    )
    paths = draw(st.lists(st.lists(segment, min_size=1, max_size=3), max_size=12))
    chosen: dict[str, None] = {}
    for parts in paths:
        candidate = "/".join(parts)
        # A path cannot be both a file and a directory.
        if any(
            other.startswith(candidate + "/") or candidate.startswith(other + "/")
            for other in chosen
        ):
            continue
        chosen[candidate] = None
    return list(chosen)


class TestWalk:
    @given(trees())
    def test_walk_comes_out_in_s3_order(self, relpaths: list[str]) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as raw:
            root = Path(raw)
            for relpath in relpaths:
                (root / relpath).parent.mkdir(parents=True, exist_ok=True)
                (root / relpath).write_bytes(relpath.encode())
            walked = [entry.relpath for entry in walk_local(root)]
            assert walked == sorted(relpaths)
            for after in sorted(relpaths)[:3]:
                resumed = [entry.relpath for entry in walk_local(root, start_after=after)]
                assert resumed == [p for p in sorted(relpaths) if p > after]

    @given(trees())
    @settings(deadline=None)  # temporary files per directory: slow on a loaded machine
    def test_a_directory_sorted_in_spilled_runs_comes_out_the_same(
        self, relpaths: list[str]
    ) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as raw, pytest.MonkeyPatch.context() as patch:
            patch.setattr(listing, "SORT_RUN", 2)  # every directory of 3 or more spills
            root = Path(raw)
            for relpath in relpaths:
                (root / relpath).parent.mkdir(parents=True, exist_ok=True)
                (root / relpath).write_bytes(relpath.encode())
            assert [entry.relpath for entry in walk_local(root)] == sorted(relpaths)

    def test_spilled_names_keep_every_byte(self, tmp_path: Path, monkeypatch: Any) -> None:
        monkeypatch.setattr(listing, "SORT_RUN", 3)
        raw_names = [b"line\nbreak", b"caf\xc3\xa9", b"not-utf8-\xff", b"tab\t", b"z", b"a"]
        for name in raw_names:
            with open(os.path.join(os.fsencode(tmp_path), name), "wb") as handle:
                handle.write(b"1")
        walked = [entry.relpath for entry in walk_local(tmp_path)]
        assert walked == sorted(os.fsdecode(name) for name in raw_names)
        assert all(entry.size == 1 for entry in walk_local(tmp_path))

    def test_names_like_the_old_partial_names_are_listed_as_files(self, tmp_path: Path) -> None:
        # The engine's partial files live outside the tree: no name in it is taken for one.
        names = ["a", ".a.h-1-2.demand-partial", "x.demand-partial", ".a.sync-partials"]
        for name in names:
            (tmp_path / name).write_bytes(b"1")
        assert [e.relpath for e in walk_local(tmp_path)] == sorted(names)

    def test_merge_pairs_by_relpath(self) -> None:
        src = iter([Entry("a", 1), Entry("c", 3)])
        dst = iter([Entry("b", 2), Entry("c", 4)])
        pairs = [(rel, s is not None, d is not None) for rel, s, d in merge(src, dst)]
        assert pairs == [("a", True, False), ("b", False, True), ("c", True, True)]


class TestCursorAndLedger:
    def test_round_trip(self) -> None:
        cursor = Cursor(fp="abc", after="dir/é x", digest=2**255 + 7, count=3)
        assert Cursor.decode(cursor.encode(), "abc") == cursor

    def test_foreign_or_garbled(self) -> None:
        with pytest.raises(InvalidCursorError):
            Cursor.decode(Cursor(fp="abc").encode(), "other")
        with pytest.raises(InvalidCursorError):
            Cursor.decode("not-a-cursor!", "abc")

    def test_watermark_waits_for_the_slowest_and_stops_at_failures(self) -> None:
        ledger = Ledger()
        a, b, c = ledger.open("a", 1), ledger.open("b", 2), ledger.open("c", 4)
        ledger.close(c, ok=True)
        ledger.close(b, ok=True)
        assert (ledger.watermark, ledger.count) == (None, 0)
        ledger.close(a, ok=True)
        assert (ledger.watermark, ledger.digest, ledger.count) == ("c", 7, 3)
        d, e = ledger.open("d"), ledger.open("e", 8)
        ledger.close(d, ok=False)
        ledger.close(e, ok=True)
        assert ledger.watermark == "c"  # a resumed sync retries d (and redoes e)
        assert not ledger.complete


class TestSettings:
    def test_standard_variables(self, tmp_path: Path) -> None:
        env = {
            "AWS_ENDPOINT_URL": "http://general:1",
            "AWS_ENDPOINT_URL_S3": "http://s3only:2",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_CONFIG_FILE": os.devnull,
            "DEMAND_SYNC_MULTIPART_THRESHOLD": "1GiB",
        }
        config = S3Config.from_environment(env)
        assert config.endpoint_url == "http://s3only:2"
        assert config.region == "eu-west-1"
        assert config.multipart_threshold == 1024 * MiB
        ignoring = S3Config.from_environment({**env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"})
        assert ignoring.endpoint_url is None

    def test_profile_in_config_file(self, tmp_path: Path) -> None:
        config_file = tmp_path / "config"
        config_file.write_text(
            "[profile work]\nregion = ap-south-1\nendpoint_url = http://minio:9000\n"
        )
        config = S3Config.from_environment(
            {"AWS_CONFIG_FILE": str(config_file), "AWS_PROFILE": "work"}
        )
        assert (config.region, config.endpoint_url) == ("ap-south-1", "http://minio:9000")

    def test_sizes_and_validation(self) -> None:
        assert parse_size("8M") == parse_size("8MiB") == 8 * MiB
        with pytest.raises(ValueError, match="multipart_threshold"):
            S3Config(multipart_threshold=6 * 1024 * MiB)

    @pytest.mark.parametrize(
        "variable",
        [
            # The CRT's binding wraps numbers this large: 2**64 + 128 MiB arrived as 128 MiB.
            {"DEMAND_SYNC_MEMORY_LIMIT": str(2**64 + 128 * MiB)},
            {"DEMAND_SYNC_CONNECTIONS_PER_OBJECT": str(2**32 + 1)},
            {"DEMAND_SYNC_THROUGHPUT_GBPS": "inf"},
            {"DEMAND_SYNC_MAX_IN_FLIGHT": "10001"},
            {"DEMAND_SYNC_PART_SIZE": "200MiB", "DEMAND_SYNC_MEMORY_LIMIT": "256MiB"},
        ],
    )
    def test_settings_beyond_what_the_crt_takes_are_refused_without_a_region(
        self, variable: dict[str, str]
    ) -> None:
        with pytest.raises(SyncSettingsError, match=next(iter(variable))):
            check_tuning(variable)

    def test_check_tuning_takes_every_setting_at_its_bounds(self) -> None:
        check_tuning(
            {
                "DEMAND_SYNC_MEMORY_LIMIT": "1TiB",
                "DEMAND_SYNC_PART_SIZE": "5GiB",
                "DEMAND_SYNC_MULTIPART_THRESHOLD": "5GiB",
                "DEMAND_SYNC_CONNECTIONS_PER_OBJECT": "1024",
                "DEMAND_SYNC_MAX_IN_FLIGHT": "10000",
                "DEMAND_SYNC_THROUGHPUT_GBPS": "1000",
            }
        )
        check_tuning({})

    def test_a_client_the_crt_refuses_is_a_settings_error_naming_them(self) -> None:
        """Should a later CRT add a rule S3Config does not know, the command still says which
        settings, in one line (here S3Config's own check is bypassed to provoke the CRT)."""
        from runtime.sync.crt_client import CrtBackend

        config = S3Config(endpoint_url="http://127.0.0.1:9")
        object.__setattr__(config, "memory_limit", 128 * MiB)
        with pytest.raises(SyncSettingsError) as refused:
            CrtBackend(config)
        message = str(refused.value)
        assert "AWS_ERROR_S3_INVALID_MEMORY_LIMIT_CONFIG" in message
        assert "DEMAND_SYNC_MEMORY_LIMIT=128MiB" in message
        assert "\n" not in message


class TestS3Xml:
    NS = "http://s3.amazonaws.com/doc/2006-03-01/"

    def page(self, contents: str, tail: str) -> bytes:
        return (
            f'<ListBucketResult xmlns="{self.NS}"><EncodingType>url</EncodingType>'
            f"{contents}{tail}</ListBucketResult>"
        ).encode()

    def test_listing_page_with_token_and_url_encoded_keys(self) -> None:
        body = self.page(
            "<Contents><Key>dir/a%2Bb+c%C3%A9</Key><Size>3</Size>"
            '<ETag>"abc"</ETag><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm></Contents>',
            "<IsTruncated>true</IsTruncated><NextContinuationToken>t1</NextContinuationToken>",
        )
        entries, token, start_after = parse_listing(body, "s3://b/dir/")
        assert entries == [Entry("dir/a+b cé", 3, etag="abc", checksum_algorithm="CRC64NVME")]
        assert (token, start_after) == ("t1", None)

    def test_truncated_without_token_continues_after_the_last_key(self) -> None:
        body = self.page(
            "<Contents><Key>k1</Key><Size>1</Size><ETag>e</ETag></Contents>",
            "<IsTruncated>true</IsTruncated>",
        )
        assert parse_listing(body, "s3://b/")[1:] == (None, "k1")

    def test_initiate_replies_of_s3_and_of_rclone(self) -> None:
        s3_reply = (
            f'<InitiateMultipartUploadResult xmlns="{self.NS}"><Bucket>b</Bucket><Key>k</Key>'
            "<UploadId>u-1</UploadId></InitiateMultipartUploadResult>"
        ).encode()
        rclone_reply = s3_reply.replace(
            b"InitiateMultipartUploadResult", b"InitiateMultipartUpload"
        )
        assert parse_initiate(s3_reply) == ("InitiateMultipartUploadResult", "u-1")
        assert parse_initiate(rclone_reply) == ("InitiateMultipartUpload", "u-1")
        assert parse_initiate(b"not xml") == ("", None)

    def test_delete_request_and_errors(self) -> None:
        assert b"<Key>a&amp;b&lt;c</Key>" in delete_request(["a&b<c"])
        reply = (
            b"<DeleteResult><Error><Key>k</Key><Code>AccessDenied</Code>"
            b"<Message>no</Message></Error></DeleteResult>"
        )
        assert parse_delete_errors(reply, "b") == ["s3://b/k: delete failed: AccessDenied no"]
        assert parse_error(b"<Error><Code>SlowDown</Code><Message>m</Message></Error>") == (
            "SlowDown",
            "m",
        )
