"""The stopped-execution function on each shape the rule sends it, against moto: Step Functions'
status-change event itself (at once: stop the job) and the same event in an SQS record (later:
clean up), for FAILED, ABORTED and TIMED_OUT, and the events it must leave alone — an
execution redriven since among them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.stepfunctions.models import stepfunctions_backends

from runtime.handlers import prepare, register, stopped
from tests.lambda_context import FakeLambdaContext, load_event
from tests.runtime.specs import spec_dict

ACCOUNT, REGION = "123456789012", "us-west-2"
DEFINITION = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}})


def start(name: str, machine: str = "demand-test") -> str:
    """An execution of ``machine`` in moto (which runs nothing of it), still RUNNING."""
    sfn = boto3.client("stepfunctions")
    arns = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    arn = (
        arns.get(machine)
        or sfn.create_state_machine(
            name=machine, definition=DEFINITION, roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn"
        )["stateMachineArn"]
    )
    return str(sfn.start_execution(stateMachineArn=arn, name=name)["executionArn"])


def end(arn: str, status: str) -> None:
    if status == "ABORTED":
        boto3.client("stepfunctions").stop_execution(executionArn=arn)
    else:  # moto cannot time an execution out: say that it did
        stepfunctions_backends[ACCOUNT][REGION].describe_execution(arn).status = status


def prepared(efs: Path, name: str, arn: str) -> None:
    """What Prepare, Register and the job leave for an execution the state machine started."""
    event = {"spec": spec_dict() | {"execution_id": name}, "execution": arn, "execution_name": name}
    planned = prepare.handler(event, FakeLambdaContext())
    register.handler(planned["job"], FakeLambdaContext())
    (efs / f"scratch/{name}/out.txt").write_text("result")


def status_change(arn: str, status: str, fixture: str = "sfn_status_aborted") -> dict[str, Any]:
    """The event EventBridge sends for this execution's change to ``status``."""
    event = copy.deepcopy(load_event(fixture))
    machine = arn.split(":")[6]
    event["resources"] = [arn]
    event["detail"] |= {
        "executionArn": arn,
        "name": arn.rsplit(":", 1)[1],
        "status": status,
        "stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine}",
    }
    return event


def queued(event: dict[str, Any]) -> dict[str, Any]:
    """The same event as the function gets it from the SQS queue, after the delay."""
    message = copy.deepcopy(load_event("sqs_stopped"))
    message["Records"][0]["body"] = json.dumps(event)
    return message


def access_point_roots() -> list[str]:
    points = boto3.client("efs").describe_access_points(FileSystemId="fs-test")["AccessPoints"]
    return sorted(p["RootDirectory"]["Path"] for p in points)


def active_definitions() -> list[str]:
    described = boto3.client("batch").describe_job_definitions(status="ACTIVE")
    return sorted(d["jobDefinitionName"] for d in described["jobDefinitions"])


@pytest.mark.parametrize("status", ["FAILED", "ABORTED", "TIMED_OUT"])
def test_an_unsuccessful_end_is_cleaned_up_from_the_queue_and_not_at_once(
    efs: Path, status: str
) -> None:
    arn, other = start("exec-1"), start("exec-2")
    prepared(efs, "exec-1", arn)
    prepared(efs, "exec-2", other)
    end(arn, status)

    at_once = stopped.handler(status_change(arn, status), FakeLambdaContext())
    ((result,),) = at_once.values()
    assert result == {"execution_id": "exec-1", "ignored": None, "terminated": [], "removed": []}
    assert (efs / "scratch/exec-1/out.txt").exists()  # a step may still be writing

    later = stopped.handler(queued(status_change(arn, status)), FakeLambdaContext())
    (cleaned,) = later["cleaned_up"]
    assert cleaned["ignored"] is None
    assert "efs://fs-test:/scratch/exec-1" in cleaned["removed"]
    assert not (efs / "scratch/exec-1").exists()
    assert not (efs / "control/exec-1").exists()
    # The other execution, still running, keeps everything.
    assert (efs / "scratch/exec-2/out.txt").exists()
    assert access_point_roots() == ["/scratch/exec-2"]
    assert active_definitions() == ["demand-test_exec-2"]

    again = stopped.handler(queued(status_change(arn, status)), FakeLambdaContext())
    assert again["cleaned_up"][0]["removed"] == []
    assert again["cleaned_up"][0]["ignored"].startswith("no claim in its control dir")


@pytest.mark.parametrize("fixture", ["sfn_status_succeeded", "sfn_status_running"])
def test_the_ends_the_state_machine_handles_are_ignored(efs: Path, fixture: str) -> None:
    arn = start("exec-1")
    prepared(efs, "exec-1", arn)
    event = status_change(arn, load_event(fixture)["detail"]["status"], fixture)
    for shape in (event, queued(event)):
        ((result,),) = stopped.handler(shape, FakeLambdaContext()).values()
        assert result["ignored"].endswith("is not an end the state machine leaves to this cleanup")
    assert (efs / "scratch/exec-1/out.txt").exists()


def test_another_state_machines_execution_is_ignored(efs: Path) -> None:
    arn = start("exec-1")
    prepared(efs, "exec-1", arn)
    foreign = start("exec-1", machine="demand-other")
    end(foreign, "ABORTED")
    ((result,),) = stopped.handler(
        queued(status_change(foreign, "ABORTED")), FakeLambdaContext()
    ).values()
    assert result["ignored"] == "not an execution of demand-test"
    assert (efs / "scratch/exec-1/out.txt").exists()
    assert active_definitions() == ["demand-test_exec-1"]


def test_an_event_step_functions_contradicts_is_ignored(efs: Path) -> None:
    """A forged message (or one overtaken by a redrive): the execution is still running."""
    arn = start("exec-1")
    prepared(efs, "exec-1", arn)
    ((result,),) = stopped.handler(
        queued(status_change(arn, "ABORTED")), FakeLambdaContext()
    ).values()
    assert result["ignored"] == "it is RUNNING now (redriven 0 time(s)), not ABORTED"
    assert (efs / "scratch/exec-1/out.txt").exists()


def test_a_failure_redriven_since_is_left_to_the_redriven_run(efs: Path) -> None:
    """`demand retry` within the window: the failure's delayed message finds the execution
    running again, and removes nothing from under it."""
    arn = start("exec-1")
    prepared(efs, "exec-1", arn)
    end(arn, "FAILED")
    failure = status_change(arn, "FAILED")
    ((at_once,),) = stopped.handler(failure, FakeLambdaContext()).values()
    assert at_once["ignored"] is None
    end(arn, "RUNNING")  # redriven: moto has no RedriveExecution
    ((later,),) = stopped.handler(queued(failure), FakeLambdaContext()).values()
    assert later["ignored"] == "it is RUNNING now (redriven 0 time(s)), not FAILED"
    assert later["removed"] == []
    assert (efs / "scratch/exec-1/out.txt").exists()
    assert (efs / "control/exec-1").is_dir()
    assert active_definitions() == ["demand-test_exec-1"]


@pytest.mark.parametrize("shape", [{"Records": []}, {"detail-type": "x"}, {"Records": [{}]}])
def test_an_unknown_shape_is_refused(efs: Path, shape: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="validation error"):
        stopped.handler(shape, FakeLambdaContext())
