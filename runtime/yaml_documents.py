"""YAML documents read within runtime.documents' limits: PyYAML's safe loader, composing with
the depth and alias bounds and recording duplicate keys.

Its own module so that PyYAML is imported only when a YAML document is read (the Lambda steps
read none, and a cold start pays for every module it loads).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

from runtime.documents import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    DocumentSyntaxError,
    Duplicate,
    RefusedError,
)

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, composing within the limits and recording duplicate keys."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._where: list[str | int] = []
        self._depth = 0
        # The nodes each finished collection stands for, its aliases expanded (by node id).
        self._sizes: dict[int, int] = {}
        self._alias_nodes = 0
        self.duplicates: list[Duplicate] = []

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803
        # The scanner looks ahead of the composer, and on one line it does so in time that
        # grows with the flow nesting ("[[[[..."): refuse it here, before it runs ahead.
        if self.flow_level >= MAX_DEPTH:
            line = int(self.line) + 1
            raise RefusedError(line, self._where, f"nested deeper than {MAX_DEPTH} levels")
        super().fetch_flow_collection_start(TokenClass)

    def _line(self) -> int:
        """The line of the next event."""
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        return event.start_mark.line + 1 if event.start_mark is not None else 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        part: str | int | None = None
        if isinstance(parent, SequenceNode):
            part = index
        elif isinstance(parent, MappingNode) and isinstance(index, Node):
            part = index.value if isinstance(index, ScalarNode) else "?"
        if part is not None:
            self._where.append(part)
        if self.check_event(yaml.AliasEvent):
            node = self._compose_alias(parent, index)
        else:
            node = super().compose_node(parent, index)
        if part is not None:
            self._where.pop()
        return node

    def _compose_alias(self, parent: Node | None, index: Any) -> Node | None:
        line = self._line()
        node = super().compose_node(parent, index)
        if isinstance(node, CollectionNode) and id(node) not in self._sizes:
            raise RefusedError(line, self._where, "alias to a node that contains it")
        self._alias_nodes += self._sizes.get(id(node), 1)
        if self._alias_nodes > MAX_ALIAS_NODES:
            message = f"aliases expand to more than {MAX_ALIAS_NODES} nodes"
            raise RefusedError(line, self._where, message)
        return node

    def compose_sequence_node(self, anchor: Any) -> SequenceNode:
        self._enter()
        node = super().compose_sequence_node(anchor)
        self._leave(node, node.value)
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        self._enter()
        node = super().compose_mapping_node(anchor)
        self._leave(node, [item for pair in node.value for item in pair])
        self._record_duplicates(node)
        return node

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            message = f"nested deeper than {MAX_DEPTH} levels"
            raise RefusedError(self._line(), self._where, message)

    def _leave(self, node: CollectionNode, children: list[Node]) -> None:
        self._depth -= 1
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(child), 1) for child in children)

    def _record_duplicates(self, node: MappingNode) -> None:
        # The keys written in this mapping; what a merge (<<: *base) brings may be overridden.
        first: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node)
            line = key_node.start_mark.line + 1
            if key in first:
                where = [*self._where, key_node.value]
                self.duplicates.append(Duplicate(line, where, first[key]))
            else:
                first[key] = line

    def _key(self, node: ScalarNode) -> Hashable:
        """The key as the mapping will hold it (``1`` and ``0x1`` are one key), or its text."""
        try:
            key = self.construct_object(node)
        except (ValueError, yaml.YAMLError):  # reported when the document is constructed
            return (node.tag, node.value)
        return key if isinstance(key, Hashable) else (node.tag, node.value)


def parse_yaml(text: str) -> tuple[object, list[Duplicate]]:
    """The document and its duplicate keys; a syntax error as :class:`DocumentSyntaxError`, a value
    PyYAML cannot convert as ``ValueError``, a broken limit as :class:`RefusedError`."""
    loader = _YamlLoader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    except yaml.MarkedYAMLError as exc:
        raise DocumentSyntaxError(_yaml_place(exc), _yaml_cause(exc)) from None
    except yaml.YAMLError as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    finally:
        loader.dispose()


def _yaml_place(exc: yaml.MarkedYAMLError) -> str:
    """``line:column: `` of the problem, where PyYAML knows it."""
    mark = exc.problem_mark or exc.context_mark
    return "" if mark is None else f"{mark.line + 1}:{mark.column + 1}: "


def _yaml_cause(exc: yaml.MarkedYAMLError) -> str:
    """The problem, and what was being read when it showed (``while parsing a block
    mapping``), on one line."""
    problem = (exc.problem or type(exc).__name__).strip()
    return f"{problem} ({exc.context.strip()})" if exc.context else problem
