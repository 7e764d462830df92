"""The job script: every argument arrives byte for byte, references expand, env files survive."""

from __future__ import annotations

import os
import string
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.plan.builder import build_plan
from runtime.plan.configuration import ContextConfiguration
from runtime.plan.job_environment import EnvFileMode
from runtime.plan.models import ExecutionPlan
from runtime.spec import RESERVED_ENV_NAMES, SHELL_ENV_NAMES, env_name, parse_spec
from runtime.volumes import VolumeConfiguration

# Any text a process can receive: everything but NUL (arguments and variables are C strings).
ANY_TEXT = st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=40)
LITERAL = ANY_TEXT.filter(lambda text: "${" not in text)
PARAM_NAMES = st.lists(
    st.text(string.ascii_lowercase + "_", min_size=1, max_size=8).filter(
        lambda name: env_name(name) not in RESERVED_ENV_NAMES | SHELL_ENV_NAMES
    ),
    min_size=1,
    max_size=4,
    unique_by=env_name,
)


@st.composite
def commands(draw: st.DrawFn) -> tuple[dict[str, str], list[str], list[str]]:
    """(params, command arguments as written, the arguments the process must receive)."""
    names = draw(PARAM_NAMES)
    params = {name: draw(ANY_TEXT) for name in names}
    written: list[str] = []
    expected: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        pieces = draw(
            st.lists(
                st.one_of(
                    LITERAL.map(lambda t: ("text", t)),
                    st.sampled_from(names).map(lambda n: ("ref", n)),
                ),
                max_size=4,
            )
        )
        written.append("".join(v if kind == "text" else f"${{{v}}}" for kind, v in pieces))
        expected.append("".join(v if kind == "text" else params[v] for kind, v in pieces))
    return params, written, expected


def plan_for(
    root: Path, params: dict[str, Any], arguments: list[str], mode: EnvFileMode
) -> ExecutionPlan:
    spec = parse_spec(
        {
            "execution_id": "prop",
            "execution_image": "img",
            "execution_parameters": {"command": [*ECHO_EACH, *arguments], "params": params},
        }
    )
    volumes = VolumeConfiguration(
        scratch_container_path=str(root / "scratch"), shared_container_path=str(root / "shared")
    )
    return build_plan(spec, volumes, ContextConfiguration(env_file_mode=mode))


def run_script(plan: ExecutionPlan) -> list[str]:
    if plan.job.env_file is not None:
        env_file = Path(plan.job.env_file.path)
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text(plan.job.env_file.content, encoding="utf-8")
    environment = plan.job.environment | {"PATH": os.environ["PATH"]}
    result = subprocess.run(plan.job.command, env=environment, capture_output=True, check=True)
    return result.stdout.decode("utf-8").split("\0")[:-1]


# The stand-in command: prints each argument it receives followed by a NUL.
ECHO_EACH = ["bash", "-c", 'for a in "$@"; do printf "%s\\0" "$a"; done', "echo-each"]

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(case=commands(), mode=st.sampled_from(list(EnvFileMode)))
def test_every_argument_arrives_byte_for_byte(
    tmp_path: Path, case: tuple[dict[str, str], list[str], list[str]], mode: EnvFileMode
) -> None:
    params, written, expected = case
    plan = plan_for(tmp_path, params, written, mode)
    assert run_script(plan) == expected


@SETTINGS
@given(case=commands())
def test_script_is_valid_bash(
    tmp_path: Path, case: tuple[dict[str, str], list[str], list[str]]
) -> None:
    params, written, _ = case
    script = plan_for(tmp_path, params, written, EnvFileMode.ALWAYS).job.command[2]
    subprocess.run(["bash", "-n", "-c", script], check=True)


@SETTINGS
@given(value=ANY_TEXT)
def test_env_file_values_survive_sourcing(tmp_path: Path, value: str) -> None:
    # The command names no parameter, so ALWAYS moves it to the file; the job prints it back.
    plan = plan_for(tmp_path, {"payload": value}, [], EnvFileMode.ALWAYS)
    assert plan.job.env_file is not None
    assert "PAYLOAD" not in plan.job.environment
    script = plan.job.command[2].rstrip("\n") + ' "$PAYLOAD"\n'
    job = plan.job.model_copy(update={"command": ["/bin/bash", "-c", script]})
    assert run_script(plan.model_copy(update={"job": job})) == [value]


def test_hostile_arguments_reach_the_process_unchanged(tmp_path: Path) -> None:
    hostile = [
        "a b",
        "it's",
        '"q"',
        "$(touch pwned)",
        "`touch pwned`",
        "; rm -rf /",
        "x\ny",
        "$HOME",
        "*",
        "\\",
        "--flag=${name}-end",
    ]
    plan = plan_for(tmp_path, {"name": "$(also not run)"}, hostile, EnvFileMode.NEVER)
    received = run_script(plan)
    assert received[:-1] == hostile[:-1]
    assert received[-1] == "--flag=$(also not run)-end"
    assert not list(tmp_path.rglob("pwned"))
