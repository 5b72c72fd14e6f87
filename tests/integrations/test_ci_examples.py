"""The CI examples (examples/ci): their atlas-intoto lines wrap the build and really work."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from atlas_intoto.keys import generate_keypair

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"


def _github_lines() -> list[str]:
    doc = yaml.safe_load((CI / "github-actions.yml").read_text())
    return [step["run"] for step in doc["jobs"]["build"]["steps"] if "run" in step]


def _gitlab_lines() -> list[str]:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["attested-build"]
    return list(job["script"])


@pytest.mark.parametrize("lines", [_github_lines, _gitlab_lines], ids=["github", "gitlab"])
def test_build_is_wrapped_by_record_start_and_stop(
    lines: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert callable(lines)
    script: list[str] = lines()
    start = next(i for i, line in enumerate(script) if "atlas-intoto record start" in line)
    build = next(i for i, line in enumerate(script) if "pip wheel" in line)
    stop = next(i for i, line in enumerate(script) if "atlas-intoto record stop" in line)
    assert start < build < stop

    # Run the job's own atlas-intoto lines around a stand-in build, in a scratch project.
    monkeypatch.chdir(tmp_path)
    generate_keypair("ci", directory=tmp_path / "keys")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "module.py").write_text("VALUE = 1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    env = dict(os.environ)
    env.pop("ATLAS_LOG_URL", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    stand_in_build = "mkdir -p dist && printf wheel > dist/demo-0.1-py3-none-any.whl"
    for line in (script[start], stand_in_build, script[stop]):
        subprocess.run(["bash", "-ec", line], check=True, env=env, capture_output=True)

    (link_path,) = (tmp_path / ".atlas").glob("build.*.link")
    link = json.loads(base64.b64decode(json.loads(link_path.read_bytes())["payload"]))
    assert set(link["materials"]) == {"src/module.py", "pyproject.toml"}
    assert set(link["products"]) == {"dist/demo-0.1-py3-none-any.whl"}
    assert "c2pa" in link["environment"]["atlas-intoto"]


def _github_publish_lines() -> list[str]:
    doc = yaml.safe_load((CI / "github-actions.yml").read_text())
    steps = doc["jobs"]["publish-evidence"]["steps"]
    return [step["run"] for step in steps if "run" in step and "log publish" in step["run"]]


def _gitlab_publish_lines() -> list[str]:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["publish-evidence"]
    return [line for line in job["script"] if "log publish" in line]


@pytest.mark.parametrize(
    ("lines", "publish"),
    [(_github_lines, _github_publish_lines), (_gitlab_lines, _gitlab_publish_lines)],
    ids=["github", "gitlab"],
)
def test_log_outage_keeps_the_build_green_and_the_publish_job_finishes(
    lines: object, publish: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import free_port, log_on

    assert callable(lines) and callable(publish)
    script: list[str] = lines()
    (publish_line,) = publish()
    start = next(line for line in script if "atlas-intoto record start" in line)
    stop = next(line for line in script if "atlas-intoto record stop" in line)
    monkeypatch.chdir(tmp_path)
    generate_keypair("ci", directory=tmp_path / "keys")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "module.py").write_text("VALUE = 1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    port = free_port()
    env = dict(os.environ)
    env["ATLAS_LOG_URL"] = f"http://127.0.0.1:{port}"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    build = "mkdir -p dist && printf wheel > dist/demo-0.1-py3-none-any.whl"
    for line in (start, build, stop.replace("--out .atlas", "--out .atlas --log-backoff 0")):
        subprocess.run(["bash", "-ec", line], check=True, env=env, capture_output=True)
    assert len(list((tmp_path / ".atlas" / ".publish-pending").glob("*.json"))) == 1
    fast = publish_line.replace("--retries 5", "--retries 0")
    down = subprocess.run(["bash", "-ec", fast], env=env, capture_output=True, text=True)
    assert down.returncode == 2 and "still pending" in down.stderr  # loud, nothing lost
    with log_on(tmp_path / "log", port):
        subprocess.run(["bash", "-ec", publish_line], check=True, env=env, capture_output=True)
    assert list((tmp_path / ".atlas").glob("build.*.logentry.json"))
    assert not list((tmp_path / ".atlas" / ".publish-pending").glob("*.json"))
