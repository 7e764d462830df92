"""One order for the region, profile and endpoint: the cloud commands' boto3 clients, the sync
engine and the flags all agree (issue 14, item 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime import aws_config
from runtime.cli.cloud import aws_settings
from runtime.cloud.clients import AwsClients
from runtime.errors import ConfigError
from runtime.sync.errors import SyncLocationError
from runtime.sync.settings import S3Config

AWS_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment with a config file of two profiles."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config"
    path.write_text(
        "[default]\nregion = sa-east-1\n"
        "[profile work]\nregion = ap-south-1\nendpoint_url = http://minio:9000\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    return path


def _regions() -> tuple[str | None, str, str]:
    """What the resolver, the cloud commands' clients and the sync engine each take."""
    clients = AwsClients.create()
    return (
        aws_config.region(),
        clients.stepfunctions.meta.region_name,
        S3Config.from_environment().region,
    )


def test_aws_region_comes_before_aws_default_region_everywhere(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert _regions() == ("eu-central-1",) * 3


def test_then_aws_default_region_then_the_profiles(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _regions() == ("sa-east-1",) * 3
    monkeypatch.setenv("AWS_PROFILE", "work")
    assert _regions() == ("ap-south-1",) * 3
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert _regions() == ("eu-west-1",) * 3


def test_flags_come_first(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-only:1")
    with aws_settings("work", "us-west-1", "http://flag:2"):
        assert _regions() == ("us-west-1",) * 3
        assert aws_config.profile_name() == "work"
        assert S3Config.from_environment().endpoint_url == "http://flag:2"
        assert AwsClients.create().batch.meta.endpoint_url == "http://flag:2"
    # Only for the command: the shell's settings are as they were.
    assert os.environ["AWS_REGION"] == "eu-central-1"
    assert os.environ["AWS_ENDPOINT_URL_S3"] == "http://s3-only:1"
    assert "AWS_PROFILE" not in os.environ


def test_the_profiles_endpoint_and_the_standard_variables(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "work")
    assert aws_config.endpoint_url("s3") == "http://minio:9000"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general:1")
    assert aws_config.endpoint_url("sfn") == "http://general:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3only:2")
    assert aws_config.endpoint_url("s3") == "http://s3only:2"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert aws_config.endpoint_url("s3") is None


def test_no_region_is_a_clear_error(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    with pytest.raises(ConfigError, match="no AWS region: pass --region, set AWS_REGION"):
        AwsClients.create()
    # The sync engine no longer guesses us-east-1 for AWS's own S3 ...
    with pytest.raises(SyncLocationError, match="no AWS region for S3"):
        S3Config.from_environment()
    # ... while an S3-compatible endpoint takes any region.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert S3Config.from_environment().region == "us-east-1"
