"""Shared fixtures. Tests need no network: servers they use run on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def shared_testdata() -> Path:
    """The real-world vectors in ../shared/testdata; a test that needs them fails if absent."""
    if not SHARED_TESTDATA.is_dir():
        pytest.fail(
            f"shared test vectors missing: {SHARED_TESTDATA} (CI lays ../shared beside the repo)"
        )
    return SHARED_TESTDATA


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep ATLAS_INTOTO_HOME (simulated TEE platform, caches) out of the user's home."""
    home = tmp_path_factory.getbasetemp() / "atlas-home"
    monkeypatch.setenv("ATLAS_INTOTO_HOME", str(home))


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One verified demo run (every step attested: simulated TEE, C2PA, log), shared by the
    export tests (tests/bom, tests/cli/test_export_bom.py)."""
    from atlas_intoto.demo import run_demo

    # The autouse ATLAS_INTOTO_HOME fixture is function-scoped; this one is session-scoped.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATLAS_INTOTO_HOME", str(tmp_path_factory.mktemp("demo-home")))
        result = run_demo(tmp_path_factory.mktemp("demo-run"))
    assert result.verified
    return result
