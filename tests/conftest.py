"""Shared fixtures. Tests need no network: servers they use run on loopback."""

from __future__ import annotations

from pathlib import Path

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
