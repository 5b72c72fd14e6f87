"""Layout rules over committed names (pure).

A public verifier sees ``private/<hex>`` where the layout's author wrote ``data/*``: it cannot
tell which private pattern a commitment came from. So a rule whose artifact pattern is one of
the layout's ``private`` patterns, or a name or pattern those match (``data/train.csv`` under
``data/*``), is applied to every committed name of the step
(``private/*``), with its ``IN`` prefixes dropped (a commitment binds the full path, so a
private artifact keeps its path across steps). Every other rule applies as written: ``*``
covers committed names as well.

What that keeps: ``MATCH data/* WITH PRODUCTS FROM prepare`` still requires every committed
material to be a committed product of ``prepare`` with the same commitment — the same path and
the same digests, since both are inside the commitment. ``CREATE``/``DELETE``/``MODIFY`` over a
private pattern become the same rule over all committed names of the step.
"""

from __future__ import annotations

from collections.abc import Sequence

from atlas_intoto.confidential.commitment import is_private

#: the pattern rules over private artifacts are applied with
COMMITTED_PATTERN = "private/*"


def _without_prefixes(rule: list[str]) -> list[str]:
    """``MATCH P IN A WITH K IN B FROM S`` → ``MATCH P WITH K FROM S``."""
    out: list[str] = []
    skip = False
    for token in rule:
        if skip:
            skip = False
            continue
        if token.upper() == "IN":
            skip = True
            continue
        out.append(token)
    return out


def rewrite_rule(rule: Sequence[str], private: Sequence[str]) -> list[str]:
    """``rule`` as applied to committed names (unchanged unless it names a private pattern)."""
    tokens = list(rule)
    if len(tokens) < 2 or not (tokens[1] in private or is_private(tokens[1], private)):
        return tokens
    tokens[1] = COMMITTED_PATTERN
    if tokens[0].upper() == "MATCH":
        tokens = _without_prefixes(tokens)
    return tokens


def rewrite_rules(rules: Sequence[Sequence[str]], private: Sequence[str]) -> list[list[str]]:
    """Every rule of a step, rewritten for committed names (a copy; no-op without patterns)."""
    return [rewrite_rule(rule, private) for rule in rules]
