"""`demand retry` and `demand cache list|prune`: an operator's day-two commands.

Plain functions with typer annotations (``cache_app`` a sub-app), registered by app.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from runtime.cli.cloud import (
    EndpointOption,
    EnvOption,
    ExecutionIdArgument,
    ProfileOption,
    RegionOption,
    aws_settings,
    reported_cloud_errors,
)
from runtime.cli.errors import fail
from runtime.cli.run_sets import retry_set
from runtime.cloud.cache import invoke_cache_function
from runtime.cloud.clients import AwsClients
from runtime.cloud.errors import ExecutionNotFoundError
from runtime.cloud.retry import retry_execution
from runtime.cloud.run_sets import is_run_set
from runtime.cloud.stack import locate_environment
from runtime.local.root import LocalRoot
from runtime.steps.cache_prune import CacheLayout, PruneSettings, list_cache, prune_cache
from runtime.volumes import VolumeConfiguration

cache_app = typer.Typer(
    name="cache",
    help="Show and reclaim the shared input cache of an environment (--env) or a local root.",
    no_args_is_help=True,
)


def retry(
    execution_id: ExecutionIdArgument,
    env: EnvOption = "dev",
    profile: ProfileOption = None,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Resume an execution that did not succeed, from the step it stopped in.

    Step Functions redrive: the steps that succeeded are not run again. Where a redrive cannot
    apply, one line says why. A run set's id: its rows that did not succeed run again, each
    under a new execution id (<row id>-r<N>), as the set's next attempt.
    """
    with aws_settings(profile, region, endpoint_url), reported_cloud_errors():
        clients = AwsClients.create()
        environment = locate_environment(env, clients.cloudformation)
        try:
            redriven = retry_execution(environment, execution_id, clients.stepfunctions)
        except ExecutionNotFoundError:
            if not is_run_set(environment, execution_id, clients.stepfunctions):
                raise
            retry_set(environment, execution_id, clients, env)
            return
    where = f" from {redriven.resumes_at!r}" if redriven.resumes_at else ""
    typer.echo(
        f"{redriven.execution_arn}: resumed{where} (redrive {redriven.redrive_count}); "
        f"follow it with: demand status {execution_id} --env {env}"
    )


# --- the cache ------------------------------------------------------------------------------

RootOption = Annotated[
    Path | None,
    typer.Option("--root", help="A local root (demand run's --root) instead of --env."),
]
CacheEnvOption = Annotated[
    str | None,
    typer.Option("--env", "-e", help="The deployed environment (default: dev)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="The answer as JSON.")]


def _where(
    env: str | None, root: Path | None, *aws_flags: tuple[str, str | None]
) -> tuple[str | None, Path | None]:
    if root is not None and env is not None:
        fail("request", ["give --env or --root, not both"])
    if root is not None:
        given = [flag for flag, value in aws_flags if value is not None]
        if given:
            fail(
                "request", [f"{flag} is for the AWS account of --env, not --root" for flag in given]
            )
        # a root no run has used yet holds an empty cache; a file there is a mistake
        if root.exists() and not root.is_dir():
            fail("request", [f"--root {root}: not a directory"])
        return None, root
    return env or "dev", None


def _local_layout(root: Path) -> CacheLayout:
    local = LocalRoot(root)
    base = VolumeConfiguration(file_system_id="local")
    return CacheLayout.of(local.volumes(in_container=False, base=base), local.mounts())


def _remote(env: str, event: dict[str, Any]) -> dict[str, Any]:
    clients = AwsClients.create()
    environment = locate_environment(env, clients.cloudformation)
    return invoke_cache_function(environment, event, clients.lambda_)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _age(last_used: str) -> str:
    days = (datetime.now(UTC) - datetime.fromisoformat(last_used)).total_seconds() / 86400
    return f"{days:.1f} d"


@cache_app.command("list")
def cache_list(
    env: CacheEnvOption = None,
    root: RootOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every cache entry, least recently used first: size, days unused, source, and whether a
    live execution uses it or a stager holds it now."""
    env, root = _where(
        env, root, ("--profile", profile), ("--region", region), ("--endpoint-url", endpoint_url)
    )
    with aws_settings(profile, region, endpoint_url), reported_cloud_errors():
        if root is not None:
            entries = [entry.to_json() for entry in list_cache(_local_layout(root))]
            answer: dict[str, Any] = {
                "entries": entries,
                "count": len(entries),
                "bytes": sum(int(str(e["size"])) for e in entries),
            }
        else:
            answer = _remote(str(env), {"action": "list"})
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    for entry in answer["entries"]:
        marks = ",".join(
            mark
            for mark, on in (
                ("in use", entry["in_use"]),
                ("locked", entry["locked"]),
                ("partial", not entry["complete"]),
            )
            if on
        )
        typer.echo(
            f"{_size(entry['size']):>10}  {_age(entry['last_used']):>8}  "
            f"{entry['source'] or entry['key']}" + (f"  ({marks})" if marks else "")
        )
    shown = len(answer["entries"])
    more = f" ({answer['count'] - shown} more not shown)" if answer["count"] > shown else ""
    typer.echo(f"{answer['count']} entries, {_size(answer['bytes'])}{more}")


@cache_app.command("prune")
def cache_prune(
    env: CacheEnvOption = None,
    root: RootOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    max_unused_days: Annotated[
        int | None,
        typer.Option(
            "--max-unused-days",
            min=0,
            help="Remove entries unused for longer than this (default: the environment's "
            "setting; for --root, 30).",
        ),
    ] = None,
    budget_gib: Annotated[
        float | None,
        typer.Option("--budget-gib", min=0, help="Then the least recently used beyond this."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove the entries unused for too long (and beyond a size budget), never one a stager
    holds or a live execution uses."""
    env, root = _where(
        env, root, ("--profile", profile), ("--region", region), ("--endpoint-url", endpoint_url)
    )
    with aws_settings(profile, region, endpoint_url), reported_cloud_errors():
        if root is not None:
            settings = PruneSettings.of(
                30 if max_unused_days is None else max_unused_days, budget_gib
            )
            answer: dict[str, Any] = prune_cache(
                _local_layout(root), settings, dry_run=dry_run
            ).to_json()
        else:
            event: dict[str, Any] = {"action": "prune", "dry_run": dry_run}
            if max_unused_days is not None:
                event["max_unused_days"] = max_unused_days
            if budget_gib is not None:
                event["size_budget_gib"] = budget_gib
            answer = _remote(str(env), event)
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    verb = "would remove" if answer["dry_run"] else "removed"
    for entry in answer["removed"]:
        typer.echo(f"{verb} {_size(entry['size']):>10}  {entry['source'] or entry['key']}")
    kept = {
        "in use": answer["kept_in_use"],
        "held by a stager": answer["kept_locked"],
        "used meanwhile": answer["kept_used_since"],
    }
    notes = ", ".join(f"{len(keys)} kept ({why})" for why, keys in kept.items() if keys)
    typer.echo(
        f"{verb} {answer['removed_count']} of {answer['entries_before']} entries, "
        f"{_size(answer['freed_bytes'])}; {_size(answer['bytes_after'])} left"
        + (f"; {notes}" if notes else "")
        + ("; stopped at the time limit, run it again" if answer["stopped_early"] else "")
    )
