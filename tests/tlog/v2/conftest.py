"""Fixtures of the Rekor v2 tests: a log signing key and a running log with a v2 shard and a TSA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from v2_servers import V2Log, run_log


@pytest.fixture
def log_signer() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def v2_log(tmp_path: Path, log_signer: ec.EllipticCurvePrivateKey) -> Iterator[V2Log]:
    yield from run_log(tmp_path, log_signer)
