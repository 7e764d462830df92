"""`demand cache list|prune`: on a local root directly, on an environment through its function,
and `demand submit --notify`."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from runtime.cli import cloud as commands
from runtime.cli import operations
from runtime.cloud.clients import AwsClients
from runtime.cloud.stack import DeployedEnvironment
from runtime.plan.builder import shared_cache_key
from runtime.steps.cache_prune import LAST_USED
from tests.runtime.cloud.conftest import deploy_stack
from tests.runtime.cloud.test_commands import deployable
from tests.runtime.specs import spec_dict

runner = CliRunner()
DAY = 86400


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(commands.submit)
    app.add_typer(operations.cache_app)
    return app


def _entry(root: Path, source: str, *, days_unused: float, size: int = 2048) -> Path:
    name = source.rstrip("/").rpartition("/")[2]
    entry = root / "shared" / shared_cache_key(source)
    (entry / name).mkdir(parents=True)
    (entry / name / "data.bin").write_bytes(b"x" * size)
    stamp = entry / LAST_USED
    stamp.touch()
    moment = time.time() - days_unused * DAY
    os.utime(stamp, (moment, moment))
    return entry


def test_list_and_prune_a_local_root(tmp_path: Path) -> None:
    old = _entry(tmp_path, "s3://b/old/", days_unused=40)
    _entry(tmp_path, "s3://b/new/", days_unused=2)
    # A stager's lock file (which says who holds it) and the stamp are not the entry's size.
    (old / ".old.sync-lock").write_text("host-1 123\n")
    listed = runner.invoke(_app(), ["cache", "list", "--root", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    answer = json.loads(listed.stdout)
    assert answer["count"] == 2
    assert answer["bytes"] == 4096
    assert answer["entries"][0]["key"] == old.name  # least recently used first

    dry = runner.invoke(_app(), ["cache", "prune", "--root", str(tmp_path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would remove 1 of 2 entries, 2.0 KiB" in dry.stdout
    assert (old / "old/data.bin").exists()

    pruned = runner.invoke(_app(), ["cache", "prune", "--root", str(tmp_path)])
    assert pruned.exit_code == 0, pruned.output
    assert "removed 1 of 2 entries, 2.0 KiB; 2.0 KiB left" in pruned.stdout
    assert not (old / "old").exists()
    assert sorted(p.name for p in old.iterdir()) == [".old.sync-lock"]  # the lock file stays


def test_a_root_that_is_not_a_directory_is_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = runner.invoke(_app(), ["cache", "list", "--root", str(a_file)])
    assert result.exit_code == 125  # the exit-code table's refused request
    assert result.stderr.strip() == f"error: --root {a_file}: not a directory"
    both = runner.invoke(_app(), ["cache", "list", "--root", str(tmp_path), "--env", "dev"])
    assert both.exit_code == 125
    assert both.stderr.strip() == "error: give --env or --root, not both"
    aws = runner.invoke(_app(), ["cache", "prune", "--root", str(tmp_path), "--profile", "p"])
    assert aws.exit_code == 125
    assert aws.stderr.strip() == "error: --profile is for the AWS account of --env, not --root"


def test_a_root_no_run_has_used_yet_holds_an_empty_cache(tmp_path: Path) -> None:
    result = runner.invoke(_app(), ["cache", "list", "--root", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "0 entries, 0 B"
    assert not (tmp_path / "new").exists()  # listing made nothing


class _CacheFunction:
    """The environment's pruning function as `lambda:Invoke` answers for it."""

    def __init__(self, answer: dict[str, Any], *, error: bool = False) -> None:
        self.answer = answer
        self.error = error
        self.events: list[dict[str, Any]] = []

    def invoke(self, **request: Any) -> dict[str, Any]:
        assert request["FunctionName"] == "demand-dev-CachePruningFunction"
        assert request["InvocationType"] == "RequestResponse"
        self.events.append(json.loads(request["Payload"]))
        response: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(self.answer).encode())}
        if self.error:
            response["FunctionError"] = "Unhandled"
        return response


@pytest.fixture
def with_cache_function(
    environment: DeployedEnvironment, clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> Any:
    outputs = clients.cloudformation.describe_stacks(StackName="demand-dev")["Stacks"][0]
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs["Outputs"]}
    clients.cloudformation.delete_stack(StackName="demand-dev")
    deploy_stack(
        clients, "dev", values | {"CachePruneFunctionName": "demand-dev-CachePruningFunction"}
    )

    def install(function: _CacheFunction) -> None:
        fake = AwsClients(
            cloudformation=clients.cloudformation,
            stepfunctions=clients.stepfunctions,
            batch=clients.batch,
            logs=clients.logs,
            lambda_=function,  # type: ignore[arg-type]
        )
        monkeypatch.setattr(AwsClients, "create", staticmethod(lambda region=None: fake))

    return install


PRUNED = {
    "removed": [{"key": "a" * 64, "source": "s3://b/old/", "size": 3 * 2**30}],
    "removed_count": 1,
    "freed_bytes": 3 * 2**30,
    "kept_in_use": ["b" * 64],
    "kept_locked": [],
    "kept_used_since": [],
    "entries_before": 5,
    "bytes_before": 10 * 2**30,
    "bytes_after": 7 * 2**30,
    "dry_run": False,
    "stopped_early": False,
}


def test_prune_an_environment_through_its_function(with_cache_function: Any) -> None:
    function = _CacheFunction(PRUNED)
    with_cache_function(function)
    result = runner.invoke(_app(), ["cache", "prune", "--env", "dev", "--max-unused-days", "7"])
    assert result.exit_code == 0, result.output
    assert function.events == [{"action": "prune", "dry_run": False, "max_unused_days": 7}]
    assert result.stdout.splitlines() == [
        "removed    3.0 GiB  s3://b/old/",
        "removed 1 of 5 entries, 3.0 GiB; 7.0 GiB left; 1 kept (in use)",
    ]


def test_a_failing_function_is_one_line(with_cache_function: Any) -> None:
    with_cache_function(
        _CacheFunction(
            {"errorType": "CachePruneRefusedError", "errorMessage": "nothing pruned: x"},
            error=True,
        )
    )
    result = runner.invoke(_app(), ["cache", "list", "--env", "dev"])
    assert result.exit_code == 125
    assert result.stderr.strip() == (
        "error: the cache function failed: CachePruneRefusedError: nothing pruned: x"
    )


def test_an_environment_without_the_function_says_to_redeploy(
    environment: DeployedEnvironment,
) -> None:
    result = runner.invoke(_app(), ["cache", "list", "--env", "dev"])
    assert result.exit_code == 125
    assert "lacks the output CachePruneFunctionName; redeploy it" in result.stderr


def test_submit_notify_adds_recipients(
    environment: DeployedEnvironment, clients: AwsClients, tmp_path: Path
) -> None:
    spec = deployable("run-1")  # what dev's Prepare accepts: submit plans it first
    spec["execution_metadata"] = {"notify_list": ["team@example.org"]}
    path = tmp_path / "request.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = runner.invoke(
        _app(),
        ["submit", str(path), "--notify", "alice@example.org", "--notify", "team@example.org"],
    )
    assert result.exit_code == 0, result.output
    started = clients.stepfunctions.describe_execution(executionArn=result.stdout.strip())
    sent = json.loads(started["input"])["spec"]["execution_metadata"]
    assert sent["notify_list"] == ["team@example.org", "alice@example.org"]


def test_submit_refuses_a_bad_notify_address_and_starts_nothing(
    environment: DeployedEnvironment, clients: AwsClients, tmp_path: Path
) -> None:
    path = tmp_path / "request.yaml"
    path.write_text(yaml.safe_dump(spec_dict() | {"execution_id": "run-1"}))
    result = runner.invoke(_app(), ["submit", str(path), "--notify", "a\tb"])
    assert result.exit_code == 125
    assert result.stderr.startswith("error: --notify: execution_metadata.notify_list[0]")
    listed = clients.stepfunctions.list_executions(stateMachineArn=environment.state_machine_arn)
    assert listed["executions"] == []
