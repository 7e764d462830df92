"""`demand report ID --env NAME` against a deployed environment in moto (its stack, its state
machine): the environment is found through its stack, a missing execution is one line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from runtime.cli.app import app
from runtime.cloud.clients import AwsClients
from runtime.cloud.stack import DeployedEnvironment

runner = CliRunner()


def test_an_execution_of_the_environment_is_reported(
    clients: AwsClients, environment: DeployedEnvironment, tmp_path: Path
) -> None:
    clients.stepfunctions.start_execution(
        stateMachineArn=environment.state_machine_arn, name="rep-env-1", input="{}"
    )
    page = tmp_path / "page.html"
    result = runner.invoke(
        app, ["report", "rep-env-1", "--env", "dev", "--json", "--html", str(page)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["execution_id"] == "rep-env-1"
    assert data["where"] == "environment dev"
    assert data["cost"]["prices_as_of"]
    assert "rep-env-1" in page.read_text()


def test_an_unknown_execution_or_environment_is_one_line(
    environment: DeployedEnvironment,
) -> None:
    for arguments, expected in (
        (["report", "ghost", "--env", "dev"], "error: no execution 'ghost'"),
        (["report", "ghost", "--env", "prod"], "error: "),
    ):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 125
        assert "Traceback" not in result.output
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(expected)


def test_local_only_and_deployed_only_options_are_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "x", "--env", "dev", "--root", str(tmp_path)])
    assert result.exit_code == 125  # the exit-code table's refused request
    assert result.stderr.startswith("error: --root is for local runs")
    for flag, value in (
        ("--region", "eu-west-1"),
        ("--profile", "p"),
        ("--endpoint-url", "http://x"),
    ):
        result = runner.invoke(app, ["report", "x", flag, value])
        assert result.exit_code == 125
        assert (
            result.stderr
            == f"error: {flag} is for the AWS account of --env: a local run has none\n"
        )
