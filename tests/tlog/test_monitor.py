"""``log monitor``: consistency with the last run from tiles, witness cosignatures, and a split
view (two servers sharing one key and origin) reported with exit 1."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import link_envelope, pem

sys.path.insert(0, str(Path(__file__).parent / "v2"))
from v2_servers import V2Log, run_log

from atlas_intoto.cli import main
from atlas_intoto.errors import ConsistencyProofError
from atlas_intoto.tlog.monitor import monitor_log
from atlas_intoto.tlog.v2 import hashedrekord

SIGNER = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def log_a(tmp_path: Path) -> Iterator[V2Log]:
    yield from run_log(tmp_path / "a", SIGNER)


@pytest.fixture
def log_b(tmp_path: Path) -> Iterator[V2Log]:
    yield from run_log(tmp_path / "b", SIGNER)


def _add(log: V2Log, key: ec.EllipticCurvePrivateKey, *names: str) -> None:
    for name in names:
        request = hashedrekord.dsse_request(link_envelope(key, name), pem(key))
        assert httpx.post(f"{log.url}/api/v2/log/entries", json=request).status_code == 201


def test_monitor_follows_a_growing_log(
    tmp_path: Path, log_a: V2Log, key: ec.EllipticCurvePrivateKey
) -> None:
    _add(log_a, key, "a", "b")
    first = monitor_log(log_a.url, state_dir=tmp_path / "state", log_keys=[log_a.public_pem])
    assert (first.previous_size, first.size) == (None, 2)
    _add(log_a, key, *(f"n{i}" for i in range(258)))
    second = monitor_log(log_a.url, state_dir=tmp_path / "state", log_keys=[log_a.public_pem])
    assert (second.previous_size, second.size) == (2, 260)


def test_split_view_is_reported_with_exit_1(
    tmp_path: Path,
    log_a: V2Log,
    log_b: V2Log,
    key: ec.EllipticCurvePrivateKey,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _add(log_a, key, "a", "b")
    _add(log_b, key, "x", "y", "z")
    key_file = tmp_path / "log.pub"
    key_file.write_bytes(log_a.public_pem)
    state = tmp_path / "state"
    args = ["log", "monitor", "--state", str(state), "--log-key", str(key_file), "--json"]
    assert main([*args, "--url", log_a.url]) == 0
    assert json.loads(capsys.readouterr().out)["size"] == 2
    saved = sorted(state.iterdir())[0].read_text()
    # the same key and origin, another tree: not an extension of what was seen
    assert main([*args, "--url", log_b.url]) == 1
    error = json.loads(capsys.readouterr().out)
    assert "split view" in json.dumps(error)
    assert sorted(state.iterdir())[0].read_text() == saved
    with pytest.raises(ConsistencyProofError):
        monitor_log(log_b.url, state_dir=state, log_keys=[log_a.public_pem])


def test_monitor_requires_witness_cosignatures(
    tmp_path: Path, log_a: V2Log, key: ec.EllipticCurvePrivateKey
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from atlas_intoto.errors import WitnessCosignatureError
    from atlas_intoto.tlog.cosignature import WitnessKey

    _add(log_a, key, "a")
    witness = WitnessKey(name="w", public_key=ed25519.Ed25519PrivateKey.generate().public_key())
    with pytest.raises(WitnessCosignatureError):
        monitor_log(
            log_a.url,
            state_dir=tmp_path / "s",
            log_keys=[log_a.public_pem],
            witnesses=[witness],
            threshold=1,
        )
