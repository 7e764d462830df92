"""How every ``demand`` command reports a failure of its own: one ``error:`` line per problem on
stderr and the exit code of docs/cli.md's table — never a traceback. With ``--json`` the same as
a JSON document on stdout, naming the kind of failure."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

import typer
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from runtime.cloud.errors import ExecutionExistsError
from runtime.errors import DemandError, DocumentError, PlanError, translate_client_error
from runtime.exit_codes import EXIT_CODES, Failure
from runtime.local.jobs import RunnerUnavailableError
from runtime.sync.errors import SyncSettingsError

# `demand sync`'s own codes (runtime/cli/sync.py): 2 a location that cannot work, 1 a failure.
EXIT_INVALID = 2
EXIT_FAILED = 1


def fail(failure: Failure, problems: Sequence[str], *, json_output: bool = False) -> NoReturn:
    """Report ``problems`` and exit with the code of ``failure``."""
    code = EXIT_CODES[failure]
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if json_output:
        document = {"failure": failure, "exit_code": code, "errors": list(problems)}
        typer.echo(json.dumps(document, indent=2))
    raise typer.Exit(code)


@contextmanager
def reported_errors(*, json_output: bool = False) -> Iterator[None]:
    """The project's errors, and AWS's, as one line each and the table's exit code."""
    try:
        yield
    except DocumentError as exc:
        fail("request", exc.problems, json_output=json_output)
    except (PlanError, ExecutionExistsError, SyncSettingsError) as exc:
        fail("request", [str(exc)], json_output=json_output)
    except RunnerUnavailableError as exc:
        fail("start", [str(exc)], json_output=json_output)
    except DemandError as exc:
        fail("environment", [str(exc)], json_output=json_output)
    except NoCredentialsError:
        problem = "no AWS credentials found: pass --profile, set AWS_PROFILE, or configure keys"
        fail("environment", [problem], json_output=json_output)
    except ClientError as exc:
        problem = str(translate_client_error(exc, f"AWS refused {exc.operation_name}"))
        fail("environment", [problem], json_output=json_output)
    except BotoCoreError as exc:
        fail("environment", [f"AWS request failed: {exc}"], json_output=json_output)
