"""Fixtures for the verification service: an attested pipeline, a config, a live server."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "verify"))

from bundle_builder import Pipeline, build_pipeline
from service_helpers import write_config

from atlas_intoto.demo import embedded_log


@pytest.fixture(scope="session")
def service_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.getbasetemp() / "atlas-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATLAS_INTOTO_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def attested(tmp_path_factory: pytest.TempPathFactory, service_home: Path) -> Iterator[Pipeline]:
    """Three steps with simulated TEE, C2PA and log entries (trusted times: verdicts cache)."""
    from atlas_intoto.home import atlas_home
    from atlas_intoto.tee.simulated import default_directory, ensure_platform

    platform = ensure_platform(default_directory(atlas_home()), now=int(time.time()))
    root = tmp_path_factory.mktemp("sim") / "sim-root.pem"
    root.write_bytes(platform.root_pem)
    with embedded_log(tmp_path_factory.mktemp("log")) as log:
        log_key = tmp_path_factory.mktemp("logkey") / "log.pub"
        log_key.write_bytes(log.public_key_pem)
        yield build_pipeline(
            tmp_path_factory.mktemp("attested"),
            tee=True,
            c2pa=True,
            log_url=log.url,
            log_key=log_key,
            tee_root_pem=root,
            mrtd=platform.mr_td.hex(),
        )


@pytest.fixture()
def service(tmp_path: Path, attested: Pipeline) -> Iterator[tuple[str, Any, Path]]:
    """The service on a free loopback port: (URL, app, config path)."""
    from atlas_intoto.service.app import create_app
    from atlas_intoto.service.config import load_config
    from atlas_intoto.tlog.serving import serve_in_thread

    path = write_config(tmp_path, attested)
    app = create_app(lambda: load_config(path))
    with serve_in_thread(app, name="atlas-service") as url:
        yield url, app, path
