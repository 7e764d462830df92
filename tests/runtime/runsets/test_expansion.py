"""A template and a table make a run set: every row's request, ids, and every problem by row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.errors import PlanError, SpecError
from runtime.runsets import expansion, tables
from runtime.runsets.expansion import check_rows, expand_run_set
from runtime.runsets.models import RunSetError
from runtime.spec import DemandExecution

TEMPLATE: dict[str, Any] = {
    "execution_id": "greet",
    "execution_image": "bash",
    "execution_parameters": {
        "command": ["bash", "-c", 'echo "$GREETING ${name}" > "$OUT"'],
        "params": {
            "greeting": "hello",
            "out": "out.txt @ s3://results/greetings/${name}/out.txt",
        },
        "outputs": ["out"],
    },
}


def write(directory: Path, name: str, content: str | Any) -> Path:
    path = directory / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


@pytest.fixture
def template(tmp_path: Path) -> Path:
    return write(tmp_path, "template.yaml", TEMPLATE)


def problems_of(template: Path, table: Path, **options: Any) -> list[str]:
    with pytest.raises(RunSetError) as refused:
        expand_run_set(template, table, **options)
    return refused.value.problems


def test_a_csv_row_sets_its_parameters_over_the_templates(tmp_path: Path, template: Path) -> None:
    table = write(tmp_path, "rows.csv", "name,greeting\nada,hi\nbob,\n")
    run_set = expand_run_set(template, table)
    assert [row.number for row in run_set.rows] == [1, 2]
    first, second = (row.request.execution_parameters.params for row in run_set.rows)
    assert first["name"] == "ada"
    assert first["greeting"] == "hi"
    assert first["out"] == TEMPLATE["execution_parameters"]["params"]["out"]
    assert second["greeting"] == ""  # an empty cell is the empty string, not the default
    assert [row.execution_id for row in run_set.rows] == [
        f"{run_set.set_id}-1",
        f"{run_set.set_id}-2",
    ]


def test_the_set_id_names_the_template_and_hashes_the_content(
    tmp_path: Path, template: Path
) -> None:
    table = write(tmp_path, "rows.csv", "name\nada\nbob\n")
    first = expand_run_set(template, table).set_id
    assert first.startswith("greet-")
    assert len(first) == len("greet-") + 12
    # The same content laid out otherwise (YAML flow style, a TSV) is the same set ...
    relaid = tmp_path / "relaid.yaml"
    relaid.write_text(yaml.safe_dump(TEMPLATE, default_flow_style=True))
    assert expand_run_set(relaid, table).set_id == first
    # ... and other content another one.
    other = write(tmp_path, "other.csv", "name\nada\ncy\n")
    assert expand_run_set(template, other).set_id != first


def test_set_id_given_is_used_and_checked(tmp_path: Path, template: Path) -> None:
    table = write(tmp_path, "rows.csv", "name\nada\n")
    run_set = expand_run_set(template, table, set_id="sweep-7")
    assert run_set.rows[0].execution_id == "sweep-7-1"
    (problem,) = problems_of(template, table, set_id="../x")
    assert problem.startswith("--set-id: must be 1–40 letters")


def test_a_template_without_an_id_is_named_after_its_file(tmp_path: Path) -> None:
    spec = {key: value for key, value in TEMPLATE.items() if key != "execution_id"}
    template = write(tmp_path, "my sweep!.yaml", spec)
    table = write(tmp_path, "rows.csv", "name\nada\n")
    assert expand_run_set(template, table).set_id.startswith("my-sweep-")


def test_an_execution_id_column_names_rows(tmp_path: Path, template: Path) -> None:
    table = write(tmp_path, "rows.tsv", "name\texecution_id\nada\tada-run\nbob\t\n")
    run_set = expand_run_set(template, table)
    assert [row.execution_id for row in run_set.rows] == ["ada-run", f"{run_set.set_id}-2"]
    assert run_set.rows[0].request.execution_parameters.params["name"] == "ada"


def test_yaml_rows_keep_their_types_and_whole_requests_lay_over_the_template(
    tmp_path: Path, template: Path
) -> None:
    rows = [
        {"name": "ada", "greeting": 3},
        {
            "execution_id": "whole",
            "execution_parameters": {"params": {"name": "bob"}},
            "resource_requirements": {"memory": 2048},
        },
    ]
    run_set = expand_run_set(template, write(tmp_path, "rows.yaml", rows))
    first, second = (row.request for row in run_set.rows)
    assert first.execution_parameters.params["greeting"] == 3
    assert second.execution_id == "whole"
    assert second.resource_requirements.memory == 2048
    # Laid over: the template's command, outputs and other params stay.
    assert second.execution_parameters.command == TEMPLATE["execution_parameters"]["command"]
    assert second.execution_parameters.params["greeting"] == "hello"
    assert second.execution_parameters.outputs == ["out"]


def test_a_json_list_is_a_table_too(tmp_path: Path, template: Path) -> None:
    table = write(tmp_path, "rows.json", '[{"name": "ada"}, {"name": "bob"}]')
    assert len(expand_run_set(template, table)) == 2


def test_every_bad_row_is_one_line_naming_it_and_its_line(tmp_path: Path, template: Path) -> None:
    table = write(
        tmp_path,
        "rows.csv",
        "name,execution_id\n"
        "ada,x/y\n"  # row 1: a path in an id
        "bob,bob-1\n"
        "bob,bob-1\n"  # row 3: the same id, and the same output, as row 2
        "cy\n"  # row 4: a value short
        "dee,../../etc\n",  # row 5
    )
    assert problems_of(template, table) == [
        f"{table}:2: row 1: execution_id: must be 1–80 letters, digits, '-' or '_', starting "
        "with a letter or digit, got 'x/y'",
        f"{table}:4: row 3: execution_id: 'bob-1' is row 2's too",
        f"{table}:4: row 3: execution_parameters.params.out: uploads to "
        "s3://results/greetings/bob/out.txt, as row 2 uploads: give each row its own "
        "destination (e.g. 'name @ s3://bucket/results/${sample}/name', with a column 'sample')",
        f"{table}:5: row 4: 1 values for 2 columns",
        f"{table}:6: row 5: execution_id: must be 1–80 letters, digits, '-' or '_', starting "
        "with a letter or digit, got '../../etc'",
    ]


def test_a_problem_of_every_row_is_the_templates_said_once(tmp_path: Path) -> None:
    template = write(tmp_path, "template.yaml", TEMPLATE | {"execution_image": "NOT VALID"})
    table = write(tmp_path, "rows.csv", "name\nada\nbob\ncy\n")
    (problem,) = problems_of(template, table)
    assert problem.startswith(f"{template}: execution_image: not an image reference")
    assert problem.endswith("(in every row)")


def test_rows_writing_inside_another_rows_destination_are_refused(
    tmp_path: Path, template: Path
) -> None:
    table = write(
        tmp_path, "rows.csv", "out\na.txt @ s3://res/x\nb.txt @ s3://res/x-1\nc @ s3://res/x/y\n"
    )
    spec = TEMPLATE | {
        "execution_parameters": TEMPLATE["execution_parameters"]
        | {"params": {"out": "o", "name": "n", "greeting": "g"}}
    }
    template = write(tmp_path, "template.yaml", spec)
    (problem,) = problems_of(template, table)
    assert problem.startswith(f"{table}:4: row 3: execution_parameters.params.out: uploads to ")
    assert "s3://res/x/y, inside s3://res/x, where row 1 uploads" in problem


def test_a_misspelt_column_is_refused_once(tmp_path: Path, template: Path) -> None:
    table = write(tmp_path, "rows.csv", "name,greting\nada,hi\nbob,yo\n")
    assert problems_of(template, table) == [
        f"{table}:1: column 'greting' names no parameter of the template (its params: "
        "greeting, out; nor a ${NAME} it uses)"
    ]


def test_relative_files_in_a_row_are_the_tables_and_references_survive(tmp_path: Path) -> None:
    spec = TEMPLATE | {
        "execution_parameters": {
            "command": ["cat", "${data}"],
            "params": {"data": "file://data/x", "out": "out @ file://results/${name}/out"},
            "inputs": ["data"],
            "outputs": ["out"],
        }
    }
    template = write(tmp_path, "template.yaml", spec)
    (tmp_path / "tables").mkdir()
    table = write(
        tmp_path / "tables", "rows.csv", "name,data\nada,file://ada.txt\nbob,file://bob.txt\n"
    )
    ada, bob = (
        row.request.execution_parameters.params for row in expand_run_set(template, table).rows
    )
    assert ada["data"] == (tmp_path / "tables/ada.txt").as_uri()
    assert bob["out"] == f"out @ {(tmp_path / 'results').as_uri()}/${{name}}/out"


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("rows.csv", "", "the table is empty"),
        ("rows.csv", "name\n", "the table has a header and no rows"),
        ("rows.csv", "name,name\nx,y\n", ":1: column 'name' is named twice"),
        ("rows.csv", "name,\nx,y\n", ":1: column 2 has no name"),
        ("rows.csv", "name\nx\x00y\n", ":2: contains a NUL character"),
        ("rows.csv", 'name\n"unterminated\n', ": not valid CSV"),
        ("rows.yaml", "name: ada\n", "expected a list of rows, got a map"),
        ("rows.yaml", "[]\n", "the table has no rows"),
        ("rows.yaml", "- 3\n", "row 1: expected a map of parameters or a request, got a number"),
        ("rows.yaml", "- {execution_id: 5}\n", "row 1: execution_id: must be text, got a number"),
        ("rows.yaml", "a: &a [1]\nb: [*a, *a, *a\n", "not valid YAML"),
        ("rows.txt", "name\n", "not a table this reads"),
    ],
)
def test_hostile_tables_are_one_line(
    tmp_path: Path, template: Path, name: str, content: str, problem: str
) -> None:
    (found,) = problems_of(template, write(tmp_path, name, content))
    assert found.startswith(str(tmp_path / name))
    assert problem in found


def test_a_table_that_is_not_utf8_names_the_byte(tmp_path: Path, template: Path) -> None:
    table = tmp_path / "rows.csv"
    table.write_bytes(b"name\n\xff\n")
    assert problems_of(template, table) == [f"{table}:2: not UTF-8 text (byte 0xff at offset 5)"]


def test_huge_tables_are_refused_before_they_are_expanded(
    tmp_path: Path, template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "MAX_ROWS", 3)
    rows = write(tmp_path, "rows.csv", "name\n" + "".join(f"n{i}\n" for i in range(5)))
    assert problems_of(template, rows) == [f"{rows}:5: more than 3 rows, more than a run set takes"]
    listed = write(tmp_path, "rows.yaml", [{"name": f"n{i}"} for i in range(5)])
    assert problems_of(template, listed) == [f"{listed}: 5 rows, more than a run set takes (3)"]
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 1024)
    large = write(tmp_path, "large.csv", "name\n" + "x" * 2000 + "\n")
    assert problems_of(template, large) == [
        f"{large}: larger than 0 MiB, more than a run set takes"
    ]


def test_a_very_long_cell_is_named(
    tmp_path: Path, template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "MAX_CELL_CHARACTERS", 10)
    table = write(tmp_path, "rows.csv", "name\nshort\n" + "x" * 11 + "\n")
    assert problems_of(template, table) == [f"{table}:3: row 2: name: longer than 10 characters"]


def test_a_row_id_leaves_room_for_a_retry(tmp_path: Path, template: Path) -> None:
    table = write(tmp_path, "rows.csv", f"name,execution_id\nada,{'a' * 77}\n")
    (problem,) = problems_of(template, table)
    assert "execution_id: at most 76 characters in a run set" in problem


def test_the_problems_reported_are_bounded(
    tmp_path: Path, template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expansion, "MAX_PROBLEMS_REPORTED", 3)
    table = write(tmp_path, "rows.csv", "name,execution_id\n" + "a,/\n" * 5)
    found = problems_of(template, table)
    assert len(found) == 4
    assert found[-1] == "… and 2 more problems"


def test_check_rows_reports_what_planning_refused_by_row(tmp_path: Path, template: Path) -> None:
    table = write(tmp_path, "rows.csv", "name\nada\nbob\ncy\n")
    run_set = expand_run_set(template, table)

    def plan(request: DemandExecution) -> None:
        name = request.execution_parameters.params["name"]
        if name == "bob":
            raise PlanError("no queue holds 64 vCPUs")
        if name == "cy":
            raise SpecError(["execution_parameters.params.name: not here"])

    with pytest.raises(RunSetError) as refused:
        check_rows(run_set, plan)
    assert refused.value.problems == [
        f"{table}:3: row 2: no queue holds 64 vCPUs",
        f"{table}:4: row 3: execution_parameters.params.name: not here",
    ]
    check_rows(run_set, lambda request: None)  # nothing refused: nothing raised
