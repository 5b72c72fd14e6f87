"""Every CI example (examples/ci) against our CLI contract: each ``atlas-intoto`` command line
parses with the real argument parser, the keyless jobs request OIDC tokens (GitHub
``id-token: write``; GitLab ``id_tokens`` with audience sigstore) and hold no key, and the
key-file jobs remain the documented fallback."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from atlas_intoto.cli import build_parser

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"
EXAMPLES = sorted(CI.glob("*.yml"))


def _scripts(doc: Any) -> Iterator[str]:
    """Every shell line of a workflow (GitHub ``run``) or pipeline (GitLab scripts)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "run" and isinstance(value, str):
                yield from value.splitlines()
            elif key in ("script", "before_script", "after_script") and isinstance(value, list):
                yield from (str(line) for line in value)
            else:
                yield from _scripts(value)
    elif isinstance(doc, list):
        for item in doc:
            yield from _scripts(item)


def _argv(line: str) -> list[str]:
    """The arguments of an ``atlas-intoto`` shell line, with its shell parts resolved."""
    command = line.split(" || ")[0]
    # ${VAR:+words} expands to the words when VAR is set: take that branch.
    command = re.sub(r"\$\{[A-Z_]+:\+([^}]*)\}", r"\1", command)
    command = re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: f"value-of-{m.group(1)}", command)
    return shlex.split(command)[1:]


def _commands(path: Path) -> list[list[str]]:
    lines = _scripts(yaml.safe_load(path.read_text()))
    return [_argv(line.strip()) for line in lines if line.strip().startswith("atlas-intoto ")]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_command_line_parses(path: Path) -> None:
    commands = _commands(path)
    assert commands, f"{path.name}: no atlas-intoto command"
    for argv in commands:
        try:
            args = build_parser(argv).parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{path.name}: {shlex.join(argv)}: not our CLI ({exc})")
        assert callable(args.handler)


def _github(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CI / name).read_text()))


def test_github_keyless_requests_the_oidc_token_and_holds_no_key() -> None:
    doc = _github("github-actions-keyless.yml")
    build = doc["jobs"]["build"]
    assert build["permissions"]["id-token"] == "write"
    assert doc["permissions"] == {"contents": "read"}  # nothing more by default
    for argv in _commands(CI / "github-actions-keyless.yml"):
        assert "--key" not in argv
    recording = [a for a in _commands(CI / "github-actions-keyless.yml") if a[0] == "record"]
    assert [a[1] for a in recording] == ["start", "stop"]
    assert all("--trust-config" in a for a in recording)
    text = (CI / "github-actions-keyless.yml").read_text()
    assert "secrets." not in text  # no stored key, no stored token
    assert "::add-mask::" in text and "audience=atlas-intoto" in text


def test_gitlab_keyless_id_tokens() -> None:
    doc = yaml.safe_load((CI / "gitlab-ci-keyless.yml").read_text())
    tokens = doc["attested-build-keyless"]["id_tokens"]
    assert tokens["SIGSTORE_ID_TOKEN"] == {"aud": "sigstore"}
    assert tokens["ATLAS_INTOTO_LOG_TOKEN"] == {"aud": "atlas-intoto"}
    for argv in _commands(CI / "gitlab-ci-keyless.yml"):
        assert "--key" not in argv


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_key_file_examples_point_to_keyless(name: str) -> None:
    text = (CI / name).read_text()
    assert "the fallback" in text and "-keyless.yml" in text
    assert "ATLAS_INTOTO_LOG_TOKEN" in text
