"""Root causes and their consequences among a report's failed rows (pure).

When a step's link fails check 2 (its signature does not verify, it is missing, ...) nothing it
produced is trusted, so the steps that consume its products fail too: their artifact rules find
no matching products, their C2PA ingredients have no verified parent, the final artifacts have
no recorded digest. Those failures are real, but they are not separate faults; reporting them as
such hides the one row to look at. Each such row is marked ``consequence_of`` its root cause.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from atlas_intoto.layout import Layout
from atlas_intoto.verify.report import CheckResult

#: For a failure of check X in a step: which failures of an upstream step explain it. Rules
#: fail when an input step has no verified link; C2PA ingredients also when the input's
#: manifests failed; a replay (the bundle's input link is not the one the step consumed)
#: whenever the input step's link is itself at fault.
_CAUSED_BY: dict[str, frozenset[str] | None] = {
    "rules": frozenset({"links"}),
    "c2pa": frozenset({"links", "c2pa"}),
    "links.replay": None,
}


def _upstream(layout: Layout) -> dict[str, list[str]]:
    """Each step's input steps (MATCH ... FROM), transitively, in layout order."""
    direct = {spec.name: list(spec.match_sources()) for spec in layout.steps}
    closure: dict[str, list[str]] = {}
    for spec in layout.steps:
        seen: list[str] = []
        todo = list(direct.get(spec.name, ()))
        while todo:
            name = todo.pop(0)
            if name not in seen and name != spec.name:
                seen.append(name)
                todo.extend(direct.get(name, ()))
        order = [s.name for s in layout.steps]
        closure[spec.name] = sorted(seen, key=lambda n: order.index(n) if n in order else 0)
    return closure


def _cause_kind(row: CheckResult) -> str | None:
    if row.passed or row.step is None:
        return None
    if row.check == "links":
        return "links.replay" if row.code == "links.replay" else None
    return row.check if row.check in _CAUSED_BY else None


def mark_consequences(rows: Sequence[CheckResult], layout: Layout) -> tuple[CheckResult, ...]:
    """``rows`` with ``consequence_of`` set on the failures that follow from another one.

    Steps:
      1. a step's own link failure (signature, threshold, command, missing) is a root cause;
      2. a failed rules row of a step downstream (MATCH ... FROM, transitively) of a step
         without a verified link, a failed C2PA row downstream of a link or C2PA failure, and
         a replay row downstream of any failure of the input step, are consequences of the
         first such upstream failure (itself resolved to its root);
      3. a failed artifacts row is a consequence of the first failed link, if any.
    """
    upstream = _upstream(layout)
    first: dict[tuple[str, str], CheckResult] = {}
    for row in rows:
        if not row.passed and row.step is not None:
            first.setdefault((row.step, row.check), row)
    cause_of: dict[int, CheckResult] = {}
    for row in rows:
        cause = _find_cause(row, upstream, first)
        if row.check == "artifacts" and not row.passed:
            cause = next((r for (_, check), r in first.items() if check == "links"), None)
        if cause is not None and cause is not row:
            cause_of[id(row)] = cause
    out: list[CheckResult] = []
    for row in rows:
        root, hops = cause_of.get(id(row)), 0
        while root is not None and id(root) in cause_of and hops < len(rows):
            root, hops = cause_of[id(root)], hops + 1
        out.append(row if root is None else dataclasses.replace(row, consequence_of=root.label))
    return tuple(out)


def _find_cause(
    row: CheckResult,
    upstream: dict[str, list[str]],
    first: dict[tuple[str, str], CheckResult],
) -> CheckResult | None:
    kind = _cause_kind(row)
    if kind is None or row.step is None:
        return None
    checks = _CAUSED_BY[kind]
    for source in upstream.get(row.step, ()):
        for (step, check), failure in first.items():
            if step == source and (checks is None or check in checks):
                return failure
    return None
