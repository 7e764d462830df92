"""A readable, terminal view of an ExecutionPlan (``demand plan`` without ``--json``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from runtime.plan.models import ExecutionPlan


def render_plan(plan: ExecutionPlan, console: Console) -> None:
    job = plan.job
    resources = job.resources
    tree = Tree(Text.assemble(("Execution ", "bold"), (plan.execution_id, "bold cyan")))

    job_node = tree.add(Text("Job", style="bold"))
    job_node.add(f"image           {job.image}")
    job_node.add(f"job name        {job.job_name}")
    job_node.add(f"job definition  {job.job_definition_name}")
    job_node.add(f"queue           {job.job_queue or '(environment default)'}")
    job_node.add(f"role            {job.job_role or '(none)'}")
    job_node.add(
        f"resources       {resources.vcpus} vCPU, {resources.memory} MiB"
        + (f", {resources.gpu} GPU" if resources.gpu else "")
    )
    job_node.add(f"privileged      {'yes' if job.privileged else 'no'}")
    job_node.add(f"env file        {job.env_file.path if job.env_file else '(none)'}")

    paths = tree.add(Text("Paths", style="bold"))
    paths.add(f"working dir  {plan.working_dir.container_path}  ({plan.working_dir.efs_uri})")
    paths.add(f"tmp dir      {plan.tmp_dir.container_path}")

    for title, rows in (
        ("Inputs", [(i.name, i.remote, i.container_path) for i in plan.inputs]),
        ("Outputs", [(o.name, o.container_path, o.remote) for o in plan.outputs]),
    ):
        if rows:
            table = Table(show_header=False, box=None, pad_edge=False)
            for row in rows:
                table.add_row(row[0], row[1], "→", row[2])
            tree.add(Text(title, style="bold")).add(table)

    environment = tree.add(Text("Environment", style="bold"))
    for name, value in job.environment.items():
        environment.add(f"{name}={value}")

    tree.add(Text("Script", style="bold")).add(Text(job.command[-1].rstrip()))
    if plan.cleanup:
        cleanup = tree.add(Text("Cleanup", style="bold"))
        for request in plan.cleanup:
            cleanup.add(request.path)
    console.print(tree)
