"""A readable, terminal view of an ExecutionPlan (``demand plan`` without ``--json``).

Every value from the request is a :class:`~rich.text.Text`, never markup: ``[bold]x[/bold]`` in
a parameter is shown as written, and ``[/bold]`` is no error. Long values fold on a terminal and
stay whole through a pipe (:func:`runtime.cli.terminal.emit`), never cut to "…".
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from runtime.cli.terminal import emit
from runtime.plan.models import ExecutionPlan
from runtime.reuse.lookup import ReuseCheck


def _row(label: str, value: object) -> Text:
    return Text(f"{label:<16}{value}")


def render_plan(plan: ExecutionPlan, console: Console) -> None:
    job = plan.job
    resources = job.resources
    tree = Tree(Text.assemble(("Execution ", "bold"), (plan.execution_id, "bold cyan")))

    job_node = tree.add(Text("Job", style="bold"))
    job_node.add(_row("image", job.image))
    job_node.add(_row("job name", job.job_name))
    job_node.add(_row("job definition", job.job_definition_name))
    job_node.add(_row("queue", job.job_queue or "(environment default)"))
    job_node.add(_row("role", job.job_role or "(none)"))
    job_node.add(
        _row(
            "resources",
            f"{resources.vcpus} vCPU, {resources.memory} MiB"
            + (f", {resources.gpu} GPU" if resources.gpu else ""),
        )
    )
    job_node.add(_row("privileged", "yes" if job.privileged else "no"))
    job_node.add(_row("env file", job.env_file.path if job.env_file else "(none)"))

    paths = tree.add(Text("Paths", style="bold"))
    working = plan.working_dir
    paths.add(Text(f"working dir  {working.container_path}  ({working.efs_uri})"))
    paths.add(Text(f"tmp dir      {plan.tmp_dir.container_path}"))

    for title, rows in (
        ("Inputs", [(i.name, i.remote, i.container_path) for i in plan.inputs]),
        ("Outputs", [(o.name, o.container_path, o.remote) for o in plan.outputs]),
    ):
        if rows:
            table = Table(show_header=False, box=None, pad_edge=False)
            for _ in range(4):
                table.add_column(overflow="fold")
            for row in rows:
                table.add_row(Text(row[0]), Text(row[1]), Text("→"), Text(row[2]))
            tree.add(Text(title, style="bold")).add(table)

    environment = tree.add(Text("Environment", style="bold"))
    for name, value in job.environment.items():
        environment.add(Text(f"{name}={value}"))

    tree.add(Text("Script", style="bold")).add(Text(job.command[-1].rstrip()))
    if plan.cleanup:
        cleanup = tree.add(Text("Cleanup", style="bold"))
        for request in plan.cleanup:
            cleanup.add(Text(request.path))
    emit(console, tree)


def render_reuse(check: ReuseCheck, console: Console) -> None:
    """Whether a run of the plan would reuse an earlier result: its key and what was found."""
    tree = Tree(Text("Reuse", style="bold"))
    tree.add(_row("key", check.key or "(none)"))
    tree.add(_row("would", "reuse " + check.hit.execution_id if check.hit else "run"))
    tree.add(_row("because", check.describe()))
    emit(console, tree)
