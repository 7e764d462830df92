"""Reading a user's JSON / YAML document: within bounds, or one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.documents import MAX_ALIAS_NODES, MAX_DEPTH, MAX_DOCUMENT_BYTES, read_document
from runtime.errors import SpecError


def read(tmp_path: Path, content: str | bytes, name: str = "doc.yaml") -> object:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return read_document(path, SpecError)


def problems(tmp_path: Path, content: str | bytes, name: str = "doc.yaml") -> list[str]:
    with pytest.raises(SpecError) as caught:
        read(tmp_path, content, name)
    return [problem.removeprefix(str(tmp_path / name)) for problem in caught.value.problems]


def nested(depth: int, suffix: str) -> str:
    inner = "[" * depth + "]" * depth
    return '{"a": ' + inner + "}" if suffix == "json" else "a: " + inner


# --- duplicate keys --------------------------------------------------------------------------


def test_duplicate_yaml_keys_are_refused_with_their_path_and_lines(tmp_path: Path) -> None:
    text = "a:\n  b: 1\n  c: [1, {x: 1, y: 2, x: 3}]\n  b: 2\nd: 1\n'd': 2\n"
    assert problems(tmp_path, text) == [
        ":3: a.c[1].x: duplicate key (first on line 3)",
        ":4: a.b: duplicate key (first on line 2)",
        ":6: d: duplicate key (first on line 5)",
    ]


def test_duplicate_json_keys_are_refused_with_their_path_and_lines(tmp_path: Path) -> None:
    text = '{"a": {"b": 1,\n "c": [1, {"x": 1, "y": 2, "x": 3}],\n "b": 2}, "\\u0064": 1, "d": 2}'
    assert problems(tmp_path, text, "doc.json") == [
        ":2: a.c[1].x: duplicate key (first on line 2)",
        ":3: a.b: duplicate key (first on line 1)",
        ":3: d: duplicate key (first on line 3)",
    ]


def test_yaml_keys_that_are_one_value_are_duplicates(tmp_path: Path) -> None:
    # 1 and 0x1 are both the integer 1; true == 1 in a Python dict: the last would win.
    assert problems(tmp_path, "1: a\n0x1: b\ntrue: c\n") == [
        ":2: 0x1: duplicate key (first on line 1)",
        ":3: true: duplicate key (first on line 1)",
    ]


def test_a_merge_may_be_overridden(tmp_path: Path) -> None:
    text = "base: &base {a: 1, b: 2}\nc:\n  <<: *base\n  a: 3\n"
    assert read(tmp_path, text) == {"base": {"a": 1, "b": 2}, "c": {"a": 3, "b": 2}}


def test_the_same_key_in_sibling_objects_is_no_duplicate(tmp_path: Path) -> None:
    assert read(tmp_path, '[{"a": 1}, {"a": 2}]', "doc.json") == [{"a": 1}, {"a": 2}]
    assert read(tmp_path, "- {a: 1}\n- {a: 2}\n") == [{"a": 1}, {"a": 2}]


def test_many_duplicates_give_a_bounded_answer(tmp_path: Path) -> None:
    text = "{" + ", ".join(f'"k": {i}' for i in range(1000)) + "}"
    found = problems(tmp_path, text, "doc.json")
    assert len(found) == 21
    assert found[-1] == ": 979 more duplicate keys"


# --- encoding, size --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["doc.yaml", "doc.json"])
def test_a_document_that_is_not_utf8_is_one_problem(tmp_path: Path, name: str) -> None:
    assert problems(tmp_path, b'{"a": 1,\n "b": "\xff\xfe"}', name) == [
        ":2: not UTF-8 text (byte 0xff at offset 16)"
    ]


def test_a_document_beyond_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    assert problems(tmp_path, "#" * (MAX_DOCUMENT_BYTES + 1)) == [
        ": larger than 1024 KiB, more than any request needs"
    ]
    assert read(tmp_path, "#" * (MAX_DOCUMENT_BYTES - 1) + "\n") is None


@pytest.mark.parametrize("name", ["doc.yaml", "doc.json"])
def test_numbers_no_parser_converts_are_problems(tmp_path: Path, name: str) -> None:
    [problem] = problems(tmp_path, '{"a": ' + "1" * 5000 + "}", name)
    assert problem.startswith(": not valid ")


def test_an_impossible_date_is_a_problem(tmp_path: Path) -> None:
    assert problems(tmp_path, "a: 2024-13-45\n") == [": not valid YAML: month must be in 1..12"]


# --- depth -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_nesting_up_to_the_limit_is_read(tmp_path: Path, suffix: str) -> None:
    data = read(tmp_path, nested(MAX_DEPTH - 1, suffix), f"doc.{suffix}")
    assert isinstance(data, dict)


@pytest.mark.parametrize("suffix", ["yaml", "json"])
@pytest.mark.parametrize("depth", [MAX_DEPTH, 10_000, 200_000])
def test_nesting_beyond_the_limit_is_refused(tmp_path: Path, suffix: str, depth: int) -> None:
    [problem] = problems(tmp_path, nested(depth, suffix), f"doc.{suffix}")
    assert problem.startswith(":1: a")
    assert problem.endswith(f": nested deeper than {MAX_DEPTH} levels")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # block sequences and mappings, not only flow ones
        ("- " * 10_000 + "x\n", ":1: [0][0][0][0][0][0][0][0][0][0][0][0]…: nested deeper"),
        ("".join(" " * i + "k:\n" for i in range(200)), ":65: k.k.k.k.k.k.k.k.k.k.k.k…: nested"),
        ("x:\n  y: " + "[" * 10_000, ":2: x.y: nested deeper"),
    ],
)
def test_every_kind_of_yaml_nesting_is_bounded(tmp_path: Path, text: str, expected: str) -> None:
    [problem] = problems(tmp_path, text)
    assert problem.startswith(expected)


# --- aliases ---------------------------------------------------------------------------------


def laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_few_aliases_are_read(tmp_path: Path) -> None:
    data = read(tmp_path, "x: &x {image: img, n: 1}\ny: *x\nz: [*x, *x]\n")
    x = {"image": "img", "n": 1}
    assert data == {"x": x, "y": x, "z": [x, x]}


def test_aliases_within_the_budget_are_read(tmp_path: Path) -> None:
    # the aliases of a1, a2 and a3 stand for 9 * 10, 9 * 91 and 9 * 820 nodes
    assert 0.5 * MAX_ALIAS_NODES < 9 * (10 + 91 + 820) < MAX_ALIAS_NODES
    assert isinstance(read(tmp_path, laughs(4)), dict)


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, laughs(9))
    assert problem == f":5: a4[0]: aliases expand to more than {MAX_ALIAS_NODES} nodes"


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, "a: &a [1, *a]\n") == [":1: a[1]: alias to a node that contains it"]
