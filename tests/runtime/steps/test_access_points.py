"""ExecutionResources against EFS as it really answers (scripted with botocore's Stubber):
CreateAccessPoint answers "creating", a repeated client token AccessPointAlreadyExists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.stub import ANY, Stubber

from runtime.errors import AwsRequestError, TransientAwsError
from runtime.plan.builder import build_plan
from runtime.plan.configuration import ContextConfiguration
from runtime.plan.models import ExecutionPlan
from runtime.spec import parse_spec
from runtime.steps.access_points import EXECUTION_TAG, ExecutionResources
from runtime.steps.roots import ExecutionRoots
from runtime.volumes import VolumeConfiguration
from tests.runtime.specs import spec_dict

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_efs import EFSClient

FS = "fs-12345678"
VOLUMES = VolumeConfiguration(file_system_id=FS, use_tmp_volume=True)
ARN = "arn:aws:elasticfilesystem:us-west-2:123456789012:access-point/{}"


class Clock:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def efs() -> Iterator[Stubber]:
    with Stubber(boto3.client("efs", region_name="us-west-2")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def batch() -> Iterator[Stubber]:
    with Stubber(boto3.client("batch", region_name="us-west-2")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def resources(efs: Stubber, batch: Stubber, clock: Clock, **options: Any) -> ExecutionResources:
    return ExecutionResources(
        efs=cast("EFSClient", efs.client),
        batch=cast("BatchClient", batch.client),
        file_system_id=FS,
        name_prefix="demand-prod",
        sleep=clock.sleep,
        clock=clock,
        **options,
    )


def plan(volumes: VolumeConfiguration = VOLUMES) -> tuple[ExecutionPlan, ExecutionRoots]:
    built = build_plan(parse_spec(spec_dict()), volumes, ContextConfiguration())
    return built, ExecutionRoots.of(built.execution_id, volumes)


def point(
    point_id: str, path: str, state: str = "available", execution: str = "exec-1"
) -> dict[str, Any]:
    return {
        "AccessPointId": point_id,
        "AccessPointArn": ARN.format(point_id),
        "FileSystemId": FS,
        "LifeCycleState": state,
        "RootDirectory": {"Path": path},
        "Tags": [
            {"Key": "Name", "Value": f"demand-prod-{execution}"},
            {"Key": EXECUTION_TAG, "Value": execution},
        ],
    }


def listing(efs: Stubber, *points: dict[str, Any]) -> None:
    efs.add_response("describe_access_points", {"AccessPoints": list(points)}, {"FileSystemId": FS})


def created(efs: Stubber, point_id: str, path: str, state: str = "creating") -> None:
    efs.add_response(
        "create_access_point",
        point(point_id, path, state),
        {
            "ClientToken": ANY,
            "FileSystemId": FS,
            "PosixUser": ANY,
            "RootDirectory": {"Path": path, "CreationInfo": ANY},
            "Tags": ANY,
        },
    )


def described(efs: Stubber, point_id: str, path: str, state: str) -> None:
    efs.add_response(
        "describe_access_points",
        {"AccessPoints": [point(point_id, path, state)]},
        {"AccessPointId": point_id},
    )


def test_new_access_points_are_waited_for_until_available(
    efs: Stubber, batch: Stubber, clock: Clock
) -> None:
    built, roots = plan()
    listing(efs)
    created(efs, "fsap-scratch", "/scratch/exec-1")
    created(efs, "fsap-tmp", "/tmp/exec-1")
    described(efs, "fsap-scratch", "/scratch/exec-1", "creating")
    described(efs, "fsap-tmp", "/tmp/exec-1", "available")
    described(efs, "fsap-scratch", "/scratch/exec-1", "available")
    made = resources(efs, batch, clock).create_access_points(built, roots)
    assert made == {"scratch": "fsap-scratch", "tmp": "fsap-tmp"}
    assert clock.slept == [1.0]


def test_the_client_token_and_the_tags_name_the_execution(
    efs: Stubber, batch: Stubber, clock: Clock
) -> None:
    built, roots = plan(VolumeConfiguration(file_system_id=FS))
    made = resources(efs, batch, clock, tags={"team": "a"})
    listing(efs)
    efs.add_response(
        "create_access_point",
        point("fsap-scratch", "/scratch/exec-1"),
        {
            "ClientToken": made.client_token("exec-1", "scratch"),
            "FileSystemId": FS,
            "PosixUser": {"Uid": 1000, "Gid": 1000},
            "RootDirectory": {
                "Path": "/scratch/exec-1",
                "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "750"},
            },
            "Tags": [
                {"Key": "team", "Value": "a"},
                {"Key": "Name", "Value": "demand-prod_exec-1"},
                {"Key": EXECUTION_TAG, "Value": "exec-1"},
            ],
        },
    )
    assert made.create_access_points(built, roots) == {"scratch": "fsap-scratch"}
    assert clock.slept == []  # already available: not asked again


def test_client_tokens_differ_across_environments_file_systems_and_volumes(
    efs: Stubber, batch: Stubber, clock: Clock
) -> None:
    prod = resources(efs, batch, clock)
    tokens = {
        prod.client_token("exec-1", "scratch"),
        prod.client_token("exec-1", "tmp"),
        prod.client_token("exec-2", "scratch"),
        replace(prod, name_prefix="demand-dev").client_token("exec-1", "scratch"),
        replace(prod, file_system_id="fs-other").client_token("exec-1", "scratch"),
    }
    assert len(tokens) == 5
    assert all(len(token) <= 64 for token in tokens)


def test_a_retry_takes_the_id_from_access_point_already_exists(
    efs: Stubber, batch: Stubber, clock: Clock
) -> None:
    built, roots = plan()
    # The first attempt made the scratch one; the listing does not show it yet.
    listing(efs)
    efs.add_client_error(
        "create_access_point",
        service_error_code="AccessPointAlreadyExists",
        service_message="An access point with this client token already exists",
        http_status_code=409,
        modeled_fields={"ErrorCode": "AccessPointAlreadyExists", "AccessPointId": "fsap-scratch"},
    )
    created(efs, "fsap-tmp", "/tmp/exec-1", "available")
    described(efs, "fsap-scratch", "/scratch/exec-1", "available")
    made = resources(efs, batch, clock).create_access_points(built, roots)
    assert made == {"scratch": "fsap-scratch", "tmp": "fsap-tmp"}


def test_the_executions_existing_access_points_are_reused(
    efs: Stubber, batch: Stubber, clock: Clock
) -> None:
    built, roots = plan()
    efs.add_response(
        "describe_access_points",
        {
            "AccessPoints": [
                point("fsap-other", "/scratch/exec-1", execution="exec-10"),
                point("fsap-scratch", "/scratch/exec-1/"),
                point("fsap-old", "/tmp/exec-1", "deleting"),
            ],
            "NextToken": "page-2",
        },
        {"FileSystemId": FS},
    )
    efs.add_response(
        "describe_access_points",
        {"AccessPoints": [point("fsap-tmp", "/tmp/exec-1", "creating")]},
        {"FileSystemId": FS, "NextToken": "page-2"},
    )
    described(efs, "fsap-tmp", "/tmp/exec-1", "available")
    # No CreateAccessPoint at all: the Stubber would refuse an unscripted call.
    made = resources(efs, batch, clock).create_access_points(built, roots)
    assert made == {"scratch": "fsap-scratch", "tmp": "fsap-tmp"}


def test_an_access_point_still_creating_at_the_bound_is_transient(
    efs: Stubber, batch: Stubber, clock: Clock
) -> None:
    built, roots = plan(VolumeConfiguration(file_system_id=FS))
    listing(efs)
    created(efs, "fsap-scratch", "/scratch/exec-1")
    for _ in range(4):
        described(efs, "fsap-scratch", "/scratch/exec-1", "creating")
    stuck = resources(efs, batch, clock, ready_timeout=3.0)
    with pytest.raises(TransientAwsError, match="fsap-scratch"):
        stuck.create_access_points(built, roots)
    assert clock.now <= 3.0


def test_the_default_bound_is_about_twenty_seconds(
    efs: Stubber, batch: Stubber, clock: Clock
) -> None:
    built, roots = plan(VolumeConfiguration(file_system_id=FS))
    listing(efs)
    created(efs, "fsap-scratch", "/scratch/exec-1")
    for _ in range(21):
        described(efs, "fsap-scratch", "/scratch/exec-1", "creating")
    with pytest.raises(TransientAwsError):
        resources(efs, batch, clock).create_access_points(built, roots)
    assert 15.0 <= clock.now <= 20.0


@pytest.mark.parametrize("state", ["error", "deleting"])
def test_an_access_point_that_failed_is_refused(
    efs: Stubber, batch: Stubber, clock: Clock, state: str
) -> None:
    built, roots = plan(VolumeConfiguration(file_system_id=FS))
    listing(efs)
    created(efs, "fsap-scratch", "/scratch/exec-1")
    described(efs, "fsap-scratch", "/scratch/exec-1", state)
    with pytest.raises(AwsRequestError, match=state):
        resources(efs, batch, clock).create_access_points(built, roots)


def test_release_reads_the_whole_listing_before_deleting(
    efs: Stubber, batch: Stubber, clock: Clock
) -> None:
    _, roots = plan()
    efs.add_response(
        "describe_access_points",
        {
            "AccessPoints": [
                point("fsap-scratch", "/scratch/exec-1"),
                point("fsap-other", "/scratch/exec-2", execution="exec-2"),
                point("fsap-forged", "/shared"),  # tagged, but not rooted in its own dirs
            ],
            "NextToken": "page-2",
        },
        {"FileSystemId": FS},
    )
    efs.add_response(
        "describe_access_points",
        {"AccessPoints": [point("fsap-tmp", "/tmp/exec-1")]},
        {"FileSystemId": FS, "NextToken": "page-2"},
    )
    # Deleted only after the last page (the Stubber checks the order of the calls).
    efs.add_response("delete_access_point", {}, {"AccessPointId": "fsap-scratch"})
    efs.add_client_error(
        "delete_access_point",
        service_error_code="AccessPointNotFound",
        http_status_code=404,
        expected_params={"AccessPointId": "fsap-tmp"},
    )
    definition = "arn:aws:batch:us-west-2:123456789012:job-definition/demand-prod_exec-1:1"
    batch.add_response(
        "describe_job_definitions",
        {
            "jobDefinitions": [
                {
                    "jobDefinitionName": "demand-prod_exec-1",
                    "jobDefinitionArn": definition,
                    "revision": 1,
                    "type": "container",
                }
            ]
        },
        {"jobDefinitionName": "demand-prod_exec-1", "status": "ACTIVE"},
    )
    batch.add_response("deregister_job_definition", {}, {"jobDefinition": definition})
    released = resources(efs, batch, clock).release(roots)
    # The one gone since the listing is not counted; the forged one is left alone.
    assert released == [ARN.format("fsap-scratch"), definition]
