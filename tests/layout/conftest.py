"""Fixtures of the layout tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from layout_helpers import SOURCE

from atlas_intoto.keys import generate_keypair


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory with owner, functionary, log and stranger keys and ``layout.yaml``."""
    keys = tmp_path / "keys"
    for name in ("owner", "owner2", "data-eng", "trainer", "log", "stranger"):
        generate_keypair(name, directory=keys)
    (tmp_path / "layout.yaml").write_text(SOURCE)
    return tmp_path
