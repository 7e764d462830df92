"""``${NAME}`` references inside parameter values, resolved as the established system does.

A value may refer to another parameter: ``{"a": "foo_${b}", "b": "bar"}`` gives ``a`` the value
``foo_bar``. As in the established models (aibs-informatics-core ``JobParamRef`` and
``JobParamResolver``), only ``${NAME}`` with ``NAME`` of letters, digits and ``_`` is a
reference, it names a parameter by environment name (``${param_in}``, ``${PARAM_IN}`` and
``${Param_In}`` all name ``param-in``), references resolve through any depth, and a reference to
a missing parameter, to the parameter itself or around a cycle is refused.

Pure functions over names and texts: :mod:`runtime.spec` says what a parameter's text is, and
the plan builder says where an input's or output's file is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

# The established JobParamRef pattern. Other ${...} text (${1}, ${a-b}) is left as written.
VALUE_REFERENCE = re.compile(r"\$\{([_a-zA-Z][_a-zA-Z0-9]*)\}")


def references_in(text: str) -> list[str]:
    """The names referred to in ``text``, as written."""
    return VALUE_REFERENCE.findall(text)


def dependency_graph(
    references: Mapping[str, Iterable[str]], variable_of: Callable[[str], str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(edges, missing): the parameters each one refers to, and the references naming none.

    ``references`` maps each parameter to the names its value refers to, as written;
    ``variable_of`` is the name → environment variable mapping both sides are compared by.
    """
    by_variable: dict[str, str] = {}
    for name in references:
        by_variable.setdefault(variable_of(name), name)
    edges: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    for name, names in references.items():
        targets: list[str] = []
        for reference in names:
            target = by_variable.get(variable_of(reference))
            if target is None:
                missing.setdefault(name, []).append(reference)
            elif target not in targets:
                targets.append(target)
        edges[name] = targets
    return edges, missing


def cycles(edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Each group of parameters that refer to one another around a cycle (self-references
    included), in first-seen order: Tarjan's strongly connected components, iteratively (a
    request may chain thousands of parameters)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, [])
            if position < len(targets):
                work.append((node, position + 1))
                target = targets[position]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in targets:
                    found.append(sorted(group, key=list(edges).index))
    return found


def reaching(edges: Mapping[str, list[str]], targets: Iterable[str]) -> dict[str, str]:
    """For every parameter that leads (through references) to one of ``targets``: one such
    target it reaches. A target reaches itself only by referring to something that does."""
    wanted = set(targets)
    reverse: dict[str, list[str]] = {}
    for name, names in edges.items():
        for target in names:
            reverse.setdefault(target, []).append(name)
    reached: dict[str, str] = {}
    frontier = [(target, target) for target in wanted]
    while frontier:
        node, origin = frontier.pop()
        for referrer in reverse.get(node, []):
            if referrer not in reached:
                reached[referrer] = origin
                frontier.append((referrer, origin))
    return reached


def resolve(
    texts: Mapping[str, str],
    known: Mapping[str, str],
    variable_of: Callable[[str], str],
) -> dict[str, str]:
    """``texts`` with every reference replaced by the referred parameter's resolved value.

    ``known`` holds values that are final already (inputs' and outputs' paths). A text whose
    references cannot all be resolved (a missing name, a cycle: refused before planning) is
    left out of the result.
    """
    by_variable = {variable_of(name): name for name in [*known, *texts]}
    done = dict(known)
    waiting_on: dict[str, set[str]] = {}
    referrers: dict[str, list[str]] = {}
    for name, text in texts.items():
        targets = {by_variable.get(variable_of(ref), "") for ref in references_in(text)}
        waiting_on[name] = targets - done.keys()
        for target in waiting_on[name]:
            referrers.setdefault(target, []).append(name)
    # Kahn's order: each text once, after everything it refers to.
    ready = [name for name, targets in waiting_on.items() if not targets]
    while ready:
        name = ready.pop()
        done[name] = VALUE_REFERENCE.sub(
            lambda match: done[by_variable[variable_of(match[1])]], texts[name]
        )
        for referrer in referrers.get(name, []):
            waiting_on[referrer].discard(name)
            if not waiting_on[referrer]:
                ready.append(referrer)
    return {name: done[name] for name in texts if name in done}
