"""``python app.py`` as the CDK CLI runs it: offline, no AWS credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.application import CDK_JSON

PROJECT_ROOT = CDK_JSON.parent


def _run_app(tmp_path: Path, context: dict[str, object]) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("AWS_")
    } | {
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        # No credentials and nowhere to send them: synthesis must not need AWS.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_app_synthesizes_one_environment_offline(tmp_path: Path) -> None:
    # The CLI passes cdk.json's context along with -c values; app.py reads cdk.json itself
    # for what is missing, so only the selection is given here.
    result = _run_app(tmp_path, {"env": "dev", "demand:lambda-bundle": "source"})
    assert result.returncode == 0, result.stderr
    outdir = tmp_path / "cdk.out"
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = [
        name
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    ]
    assert stacks == ["demand-dev"]
    template = json.loads((outdir / "demand-dev.template.json").read_text())
    assert "StateMachineArn" in template["Outputs"]


def test_unknown_environment_is_one_clear_line(tmp_path: Path) -> None:
    result = _run_app(tmp_path, {"env": "staging", "demand:lambda-bundle": "source"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: unknown environment 'staging' (-c env=...); cdk.json lists: dev, prod"
    ]


def test_cdk_json_runs_the_project_python_offline() -> None:
    cdk_json = json.loads(CDK_JSON.read_text())
    assert cdk_json["app"] == ".venv/bin/python app.py"
    assert cdk_json["notices"] is False
    assert cdk_json["context"]["cli-telemetry"] is False


def test_cdk_cli_is_pinned() -> None:
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    version = package["devDependencies"]["aws-cdk"]
    assert version.startswith("2.1148.")
    assert version[0].isdigit()  # exact, no range
    lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == version
    assert "resolved" not in json.dumps(lock)
