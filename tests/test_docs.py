"""The README and docs/ checked against the code.

Every ``demand`` command shown in a code block must parse: the sub-command exists, every flag
exists on it and takes the values shown. The commands a reader can run on this machine are run,
in the order a reader meets them, each file in one shell session (a server started in one block
serves the next); a ``console`` block's shown output must be what the command prints.

What is not run is marked, by one rule each (:func:`needs_elsewhere`): a ``demand`` command with
``--env NAME`` uses a deployed environment; ``aws`` without ``./dev`` and ``./dev cdk`` (but
synth) talk to an AWS account; ``./dev test`` is this suite; the benchmarks take minutes and are
run by hand (their modules must exist).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer

from runtime.cli.app import app

ROOT = Path(__file__).parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"bash", "console", "sh", "shell"}
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Command:
    """One logical line of a code block: continuations joined, the prompt and comment gone."""

    document: str
    line: int
    text: str
    shown_output: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"

    def argvs(self) -> list[list[str]]:
        """The commands of the line, split at ``&&`` (a trailing ``&`` is dropped)."""
        words = shlex.split(self.text.removesuffix("&"), comments=True)
        out: list[list[str]] = [[]]
        for word in words:
            if word == "&&":
                out.append([])
            else:
                out[-1].append(word)
        return [argv for argv in out if argv]


@dataclass
class Block:
    document: str
    line: int
    language: str
    commands: list[Command] = field(default_factory=list)


def _closed(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return False
    return True


def _blocks(path: Path) -> Iterator[Block]:
    text = path.read_text()
    name = str(path.relative_to(ROOT))
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        language = match.group(1)
        if language not in SHELL_LANGUAGES:
            continue
        first = text[: match.start()].count("\n") + 2
        block = Block(name, first - 1, language)
        lines = match.group(2).splitlines()
        index = 0
        while index < len(lines):
            number = first + index
            line = lines[index]
            if language == "console" and not line.startswith("$ "):
                index += 1  # output of the command before: gathered below
                continue
            line = line.removeprefix("$ ")
            while index + 1 < len(lines) and (line.endswith("\\") or not _closed(line)):
                index += 1
                if line.endswith("\\"):
                    line = line[:-1] + " " + lines[index].strip()
                else:  # a quoted string goes on over lines
                    line = line + "\n" + lines[index]
            index += 1
            shown: list[str] = []
            if language == "console":
                while index < len(lines) and not lines[index].startswith("$ "):
                    shown.append(lines[index])
                    index += 1
            if line.strip() and not line.lstrip().startswith("#"):
                block.commands.append(Command(name, number, line.strip(), tuple(shown)))
        yield block


BLOCKS = [block for path in DOCUMENTS for block in _blocks(path)]
COMMANDS = [command for block in BLOCKS for command in block.commands]


def _demand_args(argv: list[str]) -> list[str] | None:
    """The arguments of a ``demand`` command (``demand …`` or ``./dev demand …``), else None."""
    if argv[:2] == ["./dev", "demand"]:
        return argv[2:]
    if argv[:1] == ["demand"]:
        return argv[1:]
    return None


def _benchmark(argv: list[str]) -> str | None:
    """The module of ``./dev python -m benchmarks.X``, else None."""
    if argv[:3] == ["./dev", "python", "-m"] and argv[3:4] and argv[3].startswith("benchmarks."):
        return argv[3]
    return None


def needs_elsewhere(argv: list[str]) -> str | None:
    """Why this command is not run here, or None when it is."""
    if re.search(r"(?<!\./dev )(?<![\w/-])aws ", " ".join(argv)):
        return "talks to an AWS account"
    args = _demand_args(argv)
    if args is not None:
        return "uses a deployed environment (--env)" if "--env" in args else None
    if argv[:2] == ["./dev", "cdk"]:
        # synth is offline, but needs the CDK CLI; tests/infra synthesizes the same app
        return "the CDK CLI (tests/infra synthesizes the app)"
    if argv[:2] == ["./dev", "test"]:
        return "is this test suite"
    if _benchmark(argv) is not None:
        return "a benchmark (minutes), run by hand"
    return None


# typer carries its own click: its classes are reached through the command tree, not imported
CLI = typer.main.get_command(app)


def _parse(command: Any, args: list[str], name: str = "demand") -> None:
    """Parse ``args`` as click would, down through groups, without running anything."""
    context = command.make_context(name, list(args), resilient_parsing=False)
    if hasattr(command, "commands"):
        rest = [*context._protected_args, *context.args]
        if not rest:
            return
        sub_name, sub_command, sub_args = command.resolve_command(context, rest)
        assert sub_command is not None, f"no command {rest[0]!r}"
        _parse(sub_command, sub_args, sub_name or rest[0])


DEMAND_COMMANDS = [
    pytest.param(command, args, id=f"{command.where} demand {' '.join(args)[:40]}")
    for command in COMMANDS
    for argv in command.argvs()
    if (args := _demand_args(argv)) is not None
]


def test_the_documents_show_demand_commands() -> None:
    # a parser change that found no blocks would make every test below vacuous
    assert len(DEMAND_COMMANDS) >= 25
    assert {block.document for block in BLOCKS} >= {"README.md", "docs/deploy.md", "docs/report.md"}
    assert len(SYNOPSES) >= 20


@pytest.mark.parametrize(("command", "args"), DEMAND_COMMANDS)
def test_every_demand_command_shown_parses(
    command: Command, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # paths in the documents are relative to the repository (examples/…)
    monkeypatch.chdir(ROOT)
    try:
        _parse(CLI, args)
    except Exception as error:  # click's usage errors, from typer's copy of click
        message = error.format_message() if hasattr(error, "format_message") else repr(error)
        pytest.fail(f"{command.where}: `demand {shlex.join(args)}`: {message}")


def _inline_demand_spans() -> Iterator[pytest.ParameterSet]:
    for path in DOCUMENTS:
        text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
        for match in re.finditer(r"`((?:\./dev )?demand [^`]+)`", text):
            line = text[: match.start()].count("\n") + 1
            where = f"{path.relative_to(ROOT)}:{line}"
            yield pytest.param(where, match.group(1), id=f"{where} {match.group(1)[:40]}")


SYNOPSES = list(_inline_demand_spans())


def _option_names(command: Any) -> set[str]:
    return {
        name
        for parameter in command.params
        for name in (*parameter.opts, *parameter.secondary_opts)
    }


@pytest.mark.parametrize(("where", "span"), SYNOPSES)
def test_every_flag_named_in_the_text_exists(where: str, span: str) -> None:
    """Synopses such as `demand plan SPEC [--json] [--env NAME]` name real flags of the command."""
    words = span.removeprefix("./dev ").split()[1:]
    command: Any = CLI
    path = ["demand"]
    while words and words[0] in getattr(command, "commands", {}):
        command = command.commands[words[0]]
        path.append(words.pop(0))
    flags = {
        flag.split("=")[0]
        for flag in re.findall(r"(?<![\w-])--?[a-zA-Z][\w-]*(?:=\S*)?", " ".join(words))
    }
    unknown = sorted(flags - _option_names(command) - {"--help"})
    assert not unknown, f"{where}: `{span}`: {' '.join(path)} has no {', '.join(unknown)}"


def test_the_benchmarks_shown_exist() -> None:
    shown = {
        module
        for command in COMMANDS
        for argv in command.argvs()
        if (module := _benchmark(argv)) is not None
    }
    assert shown >= {"benchmarks.orchestration", "benchmarks.sync"}
    for module in sorted(shown):
        assert importlib.util.find_spec(module) is not None, module


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited with {server.returncode}"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


_SECONDS = re.compile(r"\d+\.\d+ ?s\b")


def _normalised(line: str, home: Path) -> str:
    return _SECONDS.sub("N s", line.replace(str(home), "~")).rstrip()


class Reader:
    """A reader following one document: one environment, servers left running."""

    def __init__(self, workdir: Path, home: Path) -> None:
        self.workdir = workdir
        self.home = home
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "DEMAND_"))
        }
        self.env |= {"HOME": str(home), "PATH": f"{BIN}{os.pathsep}{self.env['PATH']}"}
        self.servers: list[subprocess.Popen[bytes]] = []
        self.ports: dict[str, str] = {}

    def localised(self, text: str) -> str:
        """The line with ``./dev`` as the venv (``./dev X`` runs X from it), ports free here and
        /tmp paths under this test's directory."""
        text = re.sub(r"(?<![\w/])\./dev ", "", text)
        text = text.replace("/tmp/", f"{self.workdir}/tmp/")
        for port in re.findall(r"(?<=[:\s])(9\d{3})\b", text):
            self.ports.setdefault(port, str(_free_port()))
        for old, new in self.ports.items():
            text = re.sub(rf"\b{old}\b", new, text)
        return text

    def run(self, command: Command) -> None:
        # the line without its trailing comment (none of the documents quotes a "#")
        text = self.localised(re.sub(r"\s+#[^'\"]*$", "", command.text))
        if text.startswith("export "):
            for assignment in shlex.split(text)[1:]:
                key, _, value = assignment.partition("=")
                self.env[key] = value
            return
        if text.endswith("&"):
            port = int(re.findall(r"(?:-p |:)(\d{4,5})\b", text)[0])
            server = subprocess.Popen(
                ["bash", "-c", f"exec {text.removesuffix('&')}"],
                cwd=self.workdir,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.servers.append(server)
            _wait_for_port(port, server)
            return
        result = subprocess.run(
            ["bash", "-c", text],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        # a console block showing errors shows a refused request: the exit-code table's 125
        refused = bool(command.shown_output) and command.shown_output[0].startswith("error:")
        assert result.returncode == (125 if refused else 0), (
            f"{command.where}: `{command.text}` exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
        printed = [
            _normalised(line, self.home) for line in (result.stdout + result.stderr).splitlines()
        ]
        shown = [_normalised(line, self.home) for line in command.shown_output]
        missing = [line for line in shown if line not in printed]
        assert not missing, f"{command.where}: shown but not printed: {missing}\nprinted: {printed}"

    def stop(self) -> None:
        for server in self.servers:
            server.terminate()
            server.wait(timeout=30)


RUNNABLE = [
    pytest.param(document, id=document)
    for document in dict.fromkeys(block.document for block in BLOCKS)
    if any(
        all(needs_elsewhere(argv) is None for argv in command.argvs())
        for block in BLOCKS
        if block.document == document
        for command in block.commands
    )
]


@pytest.mark.parametrize("document", RUNNABLE)
def test_every_command_a_reader_can_run_here_runs(document: str, tmp_path: Path) -> None:
    """Bash blocks are one reader's session through the document; a console block shows what
    its commands print from a fresh start (a new home and a clean copy of examples/)."""

    def reader(name: str) -> Reader:
        workdir = tmp_path / name / "repository"
        shutil.copytree(
            ROOT / "examples", workdir / "examples", ignore=shutil.ignore_patterns("output")
        )
        (workdir / "tmp").mkdir()
        return Reader(workdir, tmp_path / name / "home")

    session = reader("session")
    readers = [session]
    ran = 0
    try:
        for block in (block for block in BLOCKS if block.document == document):
            current = session
            if block.language == "console":
                current = reader(f"console-{block.line}")
                readers.append(current)
            for command in block.commands:
                if any(needs_elsewhere(argv) for argv in command.argvs()):
                    continue
                current.run(command)
                ran += 1
    finally:
        for each in readers:
            each.stop()
    assert ran
