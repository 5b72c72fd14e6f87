"""Fixtures for verifier tests: the simulated platform, an embedded log, a fully attested pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from attacks import Ctx
from bundle_builder import Pipeline, build_pipeline

from atlas_intoto.demo import EmbeddedLog, embedded_log


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """ATLAS_INTOTO_HOME for session fixtures: the same directory tests/conftest.py gives each
    test, set before any session fixture records evidence (they run before autouse fixtures)."""
    home = tmp_path_factory.getbasetemp() / "atlas-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATLAS_INTOTO_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def sim_platform(tmp_path_factory: pytest.TempPathFactory, session_home: Path) -> tuple[Path, str]:
    """The simulated TDX platform of this test session's ATLAS_INTOTO_HOME: (root PEM file, MRTD)."""
    from atlas_intoto.home import atlas_home
    from atlas_intoto.tee.simulated import default_directory, ensure_platform

    platform = ensure_platform(default_directory(atlas_home()), now=int(time.time()))
    root = tmp_path_factory.mktemp("sim") / "sim-root.pem"
    root.write_bytes(platform.root_pem)
    return root, platform.mr_td.hex()


@pytest.fixture(scope="session")
def log_server(
    tmp_path_factory: pytest.TempPathFactory, session_home: Path
) -> Iterator[EmbeddedLog]:
    """The embedded log on a free loopback port for the whole session (stopped at the end)."""
    with embedded_log(tmp_path_factory.mktemp("log")) as log:
        yield log


@pytest.fixture(scope="session")
def log_key_file(log_server: EmbeddedLog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logkey") / "log.pub"
    path.write_bytes(log_server.public_key_pem)
    return path


def _attested(
    directory: Path,
    sim_platform: tuple[Path, str],
    log_server: EmbeddedLog,
    log_key_file: Path,
    *,
    private: bool = False,
) -> Pipeline:
    root, mrtd = sim_platform
    return build_pipeline(
        directory,
        tee=True,
        c2pa=True,
        log_url=log_server.url,
        log_key=log_key_file,
        tee_root_pem=root,
        mrtd=mrtd,
        private=private,
    )


@pytest.fixture(scope="session")
def full_pipeline(
    tmp_path_factory: pytest.TempPathFactory,
    sim_platform: tuple[Path, str],
    log_server: EmbeddedLog,
    log_key_file: Path,
) -> Pipeline:
    """Three steps with simulated TEE (MRTD pinned), C2PA sidecars and log entries."""
    return _attested(tmp_path_factory.mktemp("full"), sim_platform, log_server, log_key_file)


@pytest.fixture(scope="session")
def confidential_pipeline(
    tmp_path_factory: pytest.TempPathFactory,
    sim_platform: tuple[Path, str],
    log_server: EmbeddedLog,
    log_key_file: Path,
) -> Pipeline:
    """The same three steps with their datasets recorded as salted commitments (issue 17)."""
    directory = tmp_path_factory.mktemp("confidential")
    return _attested(directory, sim_platform, log_server, log_key_file, private=True)


@pytest.fixture
def attack_ctx(
    sim_platform: tuple[Path, str],
    log_server: EmbeddedLog,
    log_key_file: Path,
    tmp_path: Path,
) -> Callable[[Pipeline], Ctx]:
    """What an attack builds its case from, for a given pipeline."""

    def make(base: Pipeline) -> Ctx:
        return Ctx(
            base=base,
            tmp=tmp_path,
            sim_root=sim_platform[0],
            mrtd=sim_platform[1],
            log_url=log_server.url,
            log_key_file=log_key_file,
        )

    return make


@pytest.fixture(scope="session")
def plain_pipeline(tmp_path_factory: pytest.TempPathFactory, session_home: Path) -> Pipeline:
    """Three steps with links only (no TEE, C2PA or log required by the layout)."""
    return build_pipeline(tmp_path_factory.mktemp("plain"))
