"""Ctrl-C or SIGTERM while `demand` is still importing: the table's 130 / 143, no traceback."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

# runtime.cli.app made slow to import, so the signal surely arrives inside the import
SLOW_IMPORT = """
import sys, time
class Slow:
    def find_spec(self, name, path, target=None):
        if name == "runtime.cli.app":
            print("importing", flush=True)
            time.sleep(60)
        return None
sys.meta_path.insert(0, Slow())
from runtime.cli.entry import main
main()
"""


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_start_up_is_an_interruption(signum: int, code: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_IMPORT, "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "importing\n"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == code
    assert "Traceback" not in stderr


def test_the_entry_point_runs_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from runtime.cli.entry import main; main()", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("demand ")
