"""Check 3, artifact rules, applied by in-toto's own rule engine."""

from __future__ import annotations

from atlas_intoto.errors import ArtifactRuleError, OperationalError
from atlas_intoto.verify.checks import failed, passed
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState


def check_rules(state: VerificationState) -> list[CheckResult]:
    """Check 3: each step's material and product rules.

    Steps:
      1. build in-toto ``Link`` objects from the verified links (one per step: with a threshold
         the links agree on artifacts);
      2. ``in_toto.verifylib.verify_item_rules`` for materials then products, step by step;
         a rule violation is an ArtifactRuleError naming the step and rule.
    Steps whose links failed check 2 are not evaluated (they already failed).
    """
    from in_toto.exceptions import RuleVerificationError
    from in_toto.models.link import Link
    from in_toto.verifylib import verify_item_rules

    intoto = {
        name: Link(
            name=name,
            materials={p: dict(d) for p, d in items[0].materials.items()},
            products={p: dict(d) for p, d in items[0].products.items()},
            command=list(items[0].command),
            byproducts={},
            environment={},
        )
        for name, items in state.links.items()
        if items
    }
    rows = []
    for spec in state.layout.steps:
        if spec.name not in intoto:
            continue
        try:
            for kind, rules in (("materials", spec.materials), ("products", spec.products)):
                verify_item_rules(spec.name, kind, [list(rule) for rule in rules], intoto)
        except RuleVerificationError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "rule violated"
            rows.append(failed("rules", spec.name, ArtifactRuleError(f"step {spec.name}: {first}")))
            continue
        except OperationalError:
            raise
        except Exception as exc:  # in-toto's engine on hostile input: fail, never pass
            rows.append(failed("rules", spec.name, exc))
            continue
        count = len(spec.materials) + len(spec.products)
        rows.append(passed("rules", spec.name, f"{count} artifact rule(s) hold"))
    return rows
