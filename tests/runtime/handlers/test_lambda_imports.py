"""What importing a handler loads — a cold start pays for every module of it.

The Lambda package holds runtime/ and its Lambda dependencies only (infra/lambda_code.py): a
handler that imported the CLI's or the CDK's libraries would fail on its first invocation. And
each step loads only what it uses: no Powertools parser (the events are validated with pydantic
directly, runtime.handlers.events), neither boto3 nor the X-Ray SDK at import (the steps that
call AWS load them on their first call, and the tracer then patches botocore alone), and no
PyYAML (the steps read JSON).

Each import runs in a fresh interpreter with the variables Lambda sets: the X-Ray SDK makes a
botocore client at import when it is not in Lambda.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[3]
HANDLERS = sorted(
    path.stem
    for path in (PROJECT_ROOT / "runtime" / "handlers").glob("*.py")
    if "\ndef handler(" in path.read_text()
)
# Steps that call AWS APIs through boto3 and are traced; the others must not load either.
BOTO3_STEPS = {"prepare", "register", "cleanup", "notify", "stopped"}
NEVER = {"typer", "rich", "aws_cdk", "constructs", "cdk_nag", "moto"}

BLOCK_AND_IMPORT = """
import importlib.abc, json, sys
NEVER = set(json.loads(sys.argv[2]))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in NEVER:
            raise ImportError("not in the Lambda package: " + name)
sys.meta_path.insert(0, Block())
module = __import__("runtime.handlers." + sys.argv[1], fromlist=["handler"])
assert callable(module.handler)
if sys.argv[3] == "call":  # what the first call makes before the step's own code runs
    module.tracer.tracer
    import botocore.client  # the tracer patched it on its import, if not before
    assert hasattr(botocore.client.BaseClient._make_api_call, "__wrapped__")
print(json.dumps(sorted(sys.modules)))
"""


def _modules_loaded_by(handler: str, *, first_call: bool = False) -> set[str]:
    environment = {
        **os.environ,
        "LAMBDA_TASK_ROOT": str(PROJECT_ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": f"demand-test-{handler}",
        "AWS_REGION": "us-west-2",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    environment.pop("POWERTOOLS_TRACE_DISABLED", None)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK_AND_IMPORT,
            handler,
            json.dumps(sorted(NEVER)),
            "call" if first_call else "import",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def test_the_steps_are_known() -> None:
    assert {"prepare", "register", "sync", "cleanup", "notify", "cache_prune"} <= set(HANDLERS)
    assert set(HANDLERS) - BOTO3_STEPS == {"sync", "cache_prune"}


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_loads_only_what_its_step_uses(handler: str) -> None:
    loaded = _modules_loaded_by(handler)
    assert not NEVER & {name.split(".")[0] for name in loaded}
    assert "aws_lambda_powertools.utilities.parser" not in loaded
    assert "yaml" not in loaded  # no step reads a YAML document (runtime.yaml_documents)
    # boto3 and the X-Ray SDK come with the first invocation (runtime.handlers.aws_clients,
    # runtime.handlers.tracing), not with the import.
    for module in ("aws_xray_sdk", "boto3", "s3transfer", "botocore.session", "botocore.client"):
        assert module not in loaded, f"{handler} loads {module}"


@pytest.mark.parametrize("handler", sorted(BOTO3_STEPS))
def test_a_traced_step_patches_botocore_alone_on_its_first_call(handler: str) -> None:
    loaded = _modules_loaded_by(handler, first_call=True)
    assert {"aws_xray_sdk.core", "aws_xray_sdk.ext.botocore.patch"} <= loaded
    # botocore alone is patched: no http.client subsegment under each AWS request
    assert "aws_xray_sdk.ext.httplib" not in loaded
