"""Check 3, artifact rules, applied by in-toto's own rule engine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from atlas_intoto.errors import ArtifactDigestError, ArtifactRuleError, OperationalError
from atlas_intoto.verify.checks import failed, passed
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState, VerifiedLink

#: The form of each digest algorithm a layout can require.
_DIGEST_FORMS = {"sha256": re.compile(r"[0-9a-f]{64}"), "blake3": re.compile(r"[0-9a-f]{64}")}


class SharedDigests(dict[str, str]):
    """An artifact's digests as in-toto's rule engine compares them (MATCH, MODIFY use ``==``
    and ``!=``): equal to another artifact's when the two share at least one algorithm and
    agree on every shared one. A link recording SHA-256 and BLAKE3 thus matches one recording
    either; two artifacts without a common algorithm never match."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        shared = self.keys() & other.keys()
        return bool(shared) and all(self[a] == other[a] for a in shared)

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return not self.__eq__(other)


def _shared(artifacts: Mapping[str, Mapping[str, str]]) -> dict[str, SharedDigests]:
    return {path: SharedDigests(digests) for path, digests in artifacts.items()}


def _digest_problem(link: VerifiedLink, required: tuple[str, ...]) -> str | None:
    """Why ``link`` does not record the digests the layout requires, or None."""
    from atlas_intoto.confidential.commitment import is_committed

    for kind, artifacts in (("materials", link.materials), ("products", link.products)):
        for path, digests in sorted(artifacts.items()):
            if is_committed(path):
                # a commitment covers the layout's digests inside it (check 7 with openings)
                continue
            for algorithm in required:
                value: Any = digests.get(algorithm)
                if value is None:
                    return f"{kind} {path} has no {algorithm} digest (the layout requires it)"
                form = _DIGEST_FORMS.get(algorithm)
                if not isinstance(value, str) or (form is not None and not form.fullmatch(value)):
                    return f"{kind} {path}: malformed {algorithm} digest"
    return None


def check_rules(state: VerificationState) -> list[CheckResult]:
    """Check 3: each step's material and product rules.

    Steps:
      1. every artifact of every verified link records each digest algorithm of the layout's
         ``digests`` (default sha256), well formed (else ArtifactDigestError);
      2. build in-toto ``Link`` objects from the verified links (one per step: with a threshold
         the links agree on artifacts), digests compared over the algorithms both sides share
         (:class:`SharedDigests`);
      3. ``in_toto.verifylib.verify_item_rules`` for materials then products, step by step;
         rules naming a layout ``private`` pattern apply to the committed names
         (:mod:`atlas_intoto.confidential.rules`);
         a rule violation is an ArtifactRuleError naming the step and rule.
    Steps whose links failed check 2 are not evaluated (they already failed).
    """
    from in_toto.exceptions import RuleVerificationError
    from in_toto.models.link import Link
    from in_toto.verifylib import verify_item_rules
    from securesystemslib.exceptions import FormatError as SslibFormatError

    from atlas_intoto.confidential.rules import rewrite_rules

    intoto: dict[str, Link] = {}
    rows = []
    for name, items in state.links.items():
        if not items:
            continue
        try:
            intoto[name] = Link(
                name=name,
                materials=_shared(items[0].materials),
                products=_shared(items[0].products),
                command=list(items[0].command),
                byproducts={},
                environment={},
            )
        except (SslibFormatError, TypeError, ValueError) as exc:  # a signed but malformed digest
            error = ArtifactRuleError(f"step {name}: artifacts cannot be compared ({exc})")
            rows.append(failed("rules", name, error))
    for spec in state.layout.steps:
        if spec.name not in intoto:
            continue
        problem = _step_digest_problem(state, spec.name)
        if problem is not None:
            rows.append(failed("rules", spec.name, ArtifactDigestError(problem)))
            continue
        try:
            for kind, rules in (("materials", spec.materials), ("products", spec.products)):
                applied = rewrite_rules(rules, state.layout.private)
                verify_item_rules(spec.name, kind, applied, intoto)
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


def _step_digest_problem(state: VerificationState, step: str) -> str | None:
    for link in state.links[step]:
        problem = _digest_problem(link, state.layout.digests)
        if problem is not None:
            return f"step {step}: {problem}"
    return None
