"""``demand plan`` and ``demand schema`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from runtime.cli.app import app
from tests.runtime.specs import spec_dict

EXAMPLES = Path(__file__).parents[2] / "examples"
runner = CliRunner()


def write_spec(tmp_path: Path, data: object, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_plan_json_for_every_example() -> None:
    for example in sorted(EXAMPLES.glob("*.yaml")):
        result = runner.invoke(app, ["plan", str(example), "--json"])
        assert result.exit_code == 0, (example, result.output)
        plan = json.loads(result.stdout)
        assert plan["job"]["command"][:2] == ["/bin/bash", "-c"]


def test_plan_with_file_system_and_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "volumes:\n  shared_access_point_id: fsap-1\ncontext:\n  isolate_inputs: true\n"
    )
    spec = write_spec(tmp_path, spec_dict())
    result = runner.invoke(
        app, ["plan", str(spec), "--json", "--file-system", "fs-42424242", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["working_dir"]["efs_uri"] == "efs://fs-42424242:/scratch/exec-1"
    assert plan["inputs"][0]["container_path"] == "/opt/efs/scratch/exec-1/in.txt"
    scratch, shared = plan["job"]["volumes"]
    # The job's view of scratch is its own directory; the shared cache, through its access point.
    assert (scratch["root_directory"], scratch["access_point_id"]) == ("/scratch/exec-1", None)
    assert (shared["root_directory"], shared["access_point_id"]) == ("/shared", "fsap-1")


def test_readable_plan(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", str(write_spec(tmp_path, spec_dict()))])
    assert result.exit_code == 0, result.output
    assert "exec-1" in result.stdout
    assert "s3://bucket/data/in.txt" in result.stdout


def test_bad_spec_gives_one_line_per_problem_and_exit_125(tmp_path: Path) -> None:
    data = spec_dict(command=["run", "${ghost}"], inputs=["input", "nope"])
    result = runner.invoke(app, ["plan", str(write_spec(tmp_path, data))])
    assert result.exit_code == 125
    assert result.stdout == ""
    assert sorted(result.stderr.splitlines()) == [
        "error: execution_parameters.command[1]: ${ghost} names no parameter",
        "error: execution_parameters.inputs: 'nope' is not in params",
    ]


def test_bad_config_is_reported_like_a_bad_spec(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"context": {"env_size_limit": 0, "typo": 1}}')
    spec = write_spec(tmp_path, spec_dict())
    result = runner.invoke(app, ["plan", str(spec), "--config", str(config)])
    assert result.exit_code == 125
    assert sorted(result.stderr.splitlines()) == [
        f"error: {config}: context.env_size_limit: Input should be greater than 0",
        f"error: {config}: context.typo: unknown field",
    ]


def test_an_empty_spec_says_it_is_empty(tmp_path: Path) -> None:
    spec = tmp_path / "empty.yaml"
    spec.write_text("# nothing yet\n")
    result = runner.invoke(app, ["plan", str(spec)])
    assert result.exit_code == 125
    assert result.stderr.splitlines() == [
        "error: spec: the document is empty (a request is an object of fields)"
    ]


def test_missing_file_is_one_line_no_traceback() -> None:
    # A real process: what a user sees, including that no traceback is printed.
    result = subprocess.run(
        [sys.executable, "-m", "runtime.cli.app", "plan", "no/such/spec.yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 125
    assert result.stderr == "error: no/such/spec.yaml: cannot read: No such file or directory\n"


def test_schema_is_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "DemandExecution"
    assert "execution_parameters" in schema["properties"]


def test_file_system_option_with_an_empty_volumes_section(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("volumes:\n")
    spec = write_spec(tmp_path, spec_dict())
    result = runner.invoke(
        app, ["plan", str(spec), "--json", "--file-system", "fs-99999999", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)["working_dir"]["efs_uri"] == "efs://fs-99999999:/scratch/exec-1"
    )


def test_every_command_is_registered() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("plan", "run", "schema", "sync", "submit", "status", "logs", "cancel", "list"):
        assert f" {command} " in result.stdout, command


def test_plan_refuses_what_no_instance_of_the_queue_can_hold(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "context:\n"
        "  default_job_queue: demand-dev-default\n"
        "  queue_limits:\n"
        "    demand-dev-default: {vcpus: 96, memory: 393216, gpu: 0}\n"
    )
    data = spec_dict() | {"execution_platform": {}, "resource_requirements": {"vcpus": 512}}
    result = runner.invoke(app, ["plan", str(write_spec(tmp_path, data)), "--config", str(config)])
    assert result.exit_code == 125
    assert result.stdout == ""
    assert result.stderr == (
        "error: resource_requirements.vcpus: 512 exceeds the largest instance of queue "
        "demand-dev-default (96 vCPUs)\n"
    )


def test_a_bad_queue_limit_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("context:\n  queue_limits:\n    q: {vcpus: 0, disks: 2}\n")
    result = runner.invoke(
        app, ["plan", str(write_spec(tmp_path, spec_dict())), "--config", str(config)]
    )
    assert result.exit_code == 125
    assert sorted(result.stderr.splitlines()) == [
        f"error: {config}: context.queue_limits.q.disks: unknown field",
        f"error: {config}: context.queue_limits.q.vcpus: Input should be greater than 0",
    ]


def test_a_yaml_error_names_line_column_and_cause(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("execution_id: a\nexecution_parameters:\n  command: [a, b\n  params: {}\n")
    result = runner.invoke(app, ["plan", str(spec)])
    assert result.exit_code == 125
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {spec}:4:")
    assert "not valid YAML: expected ',' or ']'" in line
    assert "(while parsing a flow sequence)" in line


def test_a_json_error_names_line_and_column(tmp_path: Path) -> None:
    spec = tmp_path / "broken.json"
    spec.write_text('{\n  "execution_id": "a",\n  oops\n}\n')
    result = runner.invoke(app, ["plan", str(spec)])
    assert result.stderr.startswith(f"error: {spec}:3:3: not valid JSON: Expecting property name")
