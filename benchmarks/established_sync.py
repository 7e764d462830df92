"""The established system's own sync as a command, for the benchmarks' comparison column.

``aibs-informatics-aws-utils`` 1.1.0's ``sync_data`` (S3 <-> local), run in the established
system's venv (tests/established/venv.py: built once with uv from its pinned requirements,
cached outside the repository), with the arguments a user of that system passes: source,
destination, no delete. The endpoint comes from ``AWS_ENDPOINT_URL``, as for every tool.
"""

from __future__ import annotations

from pathlib import Path

from tests.established.venv import established_python

_SCRIPT = """
import sys
from pathlib import Path
from aibs_informatics_core.models.aws.s3 import S3Path
from aibs_informatics_aws_utils.data_sync.operations import sync_data

def location(text):
    return S3Path(text) if text.startswith("s3://") else Path(text)

sync_data(location(sys.argv[1]), location(sys.argv[2]), delete=False)
"""


def sync_command(source: str, destination: str) -> list[str]:
    """The command line that syncs ``source`` to ``destination`` with the established sync."""
    python: Path = established_python()
    return [str(python), "-c", _SCRIPT, source, destination]
