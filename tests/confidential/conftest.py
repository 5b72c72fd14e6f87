"""Fixtures for the confidential-provenance tests: a confidential pipeline logged to an
embedded log on 127.0.0.1 (stopped at the end of the module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confidential_builder import Confidential, build

from atlas_intoto.demo import EmbeddedLog, embedded_log


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Confidential, Path]]:
    """(the recorded, logged pipeline, the log's directory)."""
    home = tmp_path_factory.mktemp("home")
    log_dir = tmp_path_factory.mktemp("log")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATLAS_INTOTO_HOME", str(home))
        log: EmbeddedLog
        with embedded_log(log_dir) as log:
            key = log_dir / "log.pub"
            key.write_bytes(log.public_key_pem)
            pipeline = build(tmp_path_factory.mktemp("conf"), log_url=log.url, log_key=key)
            yield pipeline, log_dir
