"""How an execution ended, as every ``demand`` command reports it: a kind of failure and an exit
code (the table in docs/cli.md).

Docker's convention: ``docker run`` passes the container's own code through and keeps 125–127
for itself (125 the daemon or the request failed, 126 the command cannot be invoked, 127 it was
not found). Here the job's own code is passed through, and the platform's failures use the
codes jobs do not normally use for themselves, so a script can tell them apart; ``--json``
names the kind of failure in every case (``failure``), including a job that exits 125–127.
"""

from __future__ import annotations

from typing import Literal

# What failed. None: nothing did.
Failure = Literal["job", "request", "environment", "staging", "start", "interrupted", "rows"]

EXIT_SUCCEEDED = 0
# A run set ended with one or more rows failed (each row's own outcome is in its summary):
# xargs's code for "some invocation failed", above the codes jobs commonly use.
EXIT_ROWS_FAILED = 123
# The request was refused (an invalid spec, configuration file or flag; a request the
# environment cannot run; an execution id already used) or demand could not carry it out
# (AWS unreachable or refusing, no such environment or execution): nothing of the job ran.
EXIT_REQUEST = 125
# A step of the platform failed: prepare, stage in, stage out, cleanup.
EXIT_STAGING = 126
# The job could not start: no sandbox or Docker engine here, its process could not be
# launched; in AWS Batch, a job that failed without running (no exit code).
EXIT_START = 127
# Stopped: demand itself by SIGINT / SIGTERM (130 / 143, as a shell reports it), or a deployed
# execution that was cancelled or timed out (143: it was terminated).
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

EXIT_CODES: dict[Failure, int] = {
    "request": EXIT_REQUEST,
    "environment": EXIT_REQUEST,
    "staging": EXIT_STAGING,
    "start": EXIT_START,
    "rows": EXIT_ROWS_FAILED,
}
