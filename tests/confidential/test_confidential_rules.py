"""Layout rules over committed names."""

from __future__ import annotations

from atlas_intoto.confidential.rules import COMMITTED_PATTERN, rewrite_rule, rewrite_rules

PRIVATE = ("data/*", "raw/*")


def test_rules_naming_a_private_pattern_apply_to_committed_names() -> None:
    assert rewrite_rule(["CREATE", "data/*"], PRIVATE) == ["CREATE", COMMITTED_PATTERN]
    assert rewrite_rule(["DELETE", "raw/*"], PRIVATE) == ["DELETE", COMMITTED_PATTERN]
    assert rewrite_rule(
        ["MATCH", "data/train.csv", "WITH", "PRODUCTS", "FROM", "prepare"], PRIVATE
    ) == ["MATCH", COMMITTED_PATTERN, "WITH", "PRODUCTS", "FROM", "prepare"]


def test_in_prefixes_are_dropped_for_private_match() -> None:
    rule = ["MATCH", "data/*", "IN", "a", "WITH", "PRODUCTS", "IN", "b", "FROM", "prepare"]
    assert rewrite_rule(rule, PRIVATE) == [
        "MATCH",
        COMMITTED_PATTERN,
        "WITH",
        "PRODUCTS",
        "FROM",
        "prepare",
    ]


def test_other_rules_are_unchanged() -> None:
    rules = [
        ["ALLOW", "src/*"],
        ["DISALLOW", "*"],
        ["MATCH", "model/*", "WITH", "PRODUCTS", "FROM", "t"],
    ]
    assert rewrite_rules(rules, PRIVATE) == rules
    assert rewrite_rules([["CREATE", "data/*"]], ()) == [["CREATE", "data/*"]]
