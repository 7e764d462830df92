"""The Lambda package holds runtime/ and its Lambda dependencies only (infra/lambda_code.py):
a handler that imported the CLI's or the CDK's libraries would fail on its first invocation."""

from __future__ import annotations

import subprocess
import sys

BLOCK_AND_IMPORT = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {"typer", "rich", "aws_cdk", "constructs", "cdk_nag", "moto"}:
            raise ImportError("not in the Lambda package: " + name)
sys.meta_path.insert(0, Block())
for step in ("prepare", "register", "sync", "cleanup", "notify", "cache_prune", "stopped"):
    __import__("runtime.handlers." + step)
"""


def test_handlers_import_with_only_the_lambda_dependencies() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_AND_IMPORT], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
