"""A saved checkpoint against a live log: one rule (tlog.live) and one error class per fault,
whether ``verify --online``, ``log verify --url`` or ``log consistency`` asks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import ThreadedServer, link_envelope, pem
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from atlas_intoto.cli import main
from atlas_intoto.errors import (
    CheckpointError,
    ConsistencyProofError,
    LogServerError,
    NetworkError,
)
from atlas_intoto.tlog import checkpoint, merkle
from atlas_intoto.tlog.client import RekorClient
from atlas_intoto.tlog.live import (
    LiveTree,
    check_against_live_log,
    check_extends,
    fetch_live_tree,
    proof_hashes,
)
from atlas_intoto.tlog.server import create_app
from atlas_intoto.tlog.store import LogStore
from atlas_intoto.verify.online import OnlineConsistency

LOG_KEY = ec.derive_private_key(0x11FE_0001, ec.SECP256R1())
OTHER_KEY = ec.derive_private_key(0x11FE_0002, ec.SECP256R1())
ORIGIN = "live.test - 42"
LEAVES = [f"entry {i}".encode() for i in range(7)]
LEAF_HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def _root(size: int) -> bytes:
    return merkle.root_from_leaves(LEAVES[:size])


def _note(size: int, *, root: bytes | None = None, key: Any = LOG_KEY, origin: str = ORIGIN) -> str:
    cp = checkpoint.Checkpoint(
        origin=origin, size=size, root_hash=_root(size) if root is None else root
    )
    return checkpoint.sign(cp, key=key, name="live.test").text


class FakeLog:
    """A log client answering from fixed documents; records the proofs asked for."""

    url = "http://fake.test"

    def __init__(self, note: Any, proof: Any = None) -> None:
        self.note = note
        self.proof = proof
        self.asked: list[tuple[int, int]] = []

    def log_info(self) -> dict[str, Any]:
        return {"signedTreeHead": self.note, "treeSize": 0, "rootHash": ""}

    def consistency_proof(
        self, first: int, last: int, tree_id: str | None = None
    ) -> dict[str, Any]:
        self.asked.append((first, last))
        if isinstance(self.proof, Exception):
            raise self.proof
        if self.proof is not None:
            return {"rootHash": _root(last).hex(), "hashes": self.proof}
        hashes = merkle.consistency_proof_from_leaves(LEAF_HASHES[:last], first)
        return {"rootHash": _root(last).hex(), "hashes": [h.hex() for h in hashes]}


KEYS = [pem(LOG_KEY)]


# --------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------


def test_a_grown_log_is_consistent() -> None:
    log = FakeLog(_note(7))
    live = check_against_live_log(log, size=3, root_hash=_root(3), log_keys=KEYS, origin=ORIGIN)
    assert (live.size, live.root_hash, live.note) == (7, _root(7), log.note)
    assert live.checkpoint.origin == ORIGIN and log.asked == [(3, 7)]


def test_same_tree_needs_no_proof_and_empty_tree_is_a_prefix() -> None:
    log = FakeLog(_note(4))
    check_against_live_log(log, size=4, root_hash=_root(4), log_keys=KEYS)
    check_against_live_log(log, size=0, root_hash=merkle.EMPTY_ROOT, log_keys=KEYS)
    assert log.asked == []


@pytest.mark.parametrize(
    ("size", "root", "match"),
    [
        (4, b"\x01" * 32, r"another root for tree size 4 \(split view\)"),
        (6, _root(6), "smaller than the checkpoint 6 it signed: the log shrank"),
        (3, hashlib.sha256(b"fork").digest(), "consistency proof"),
        (-1, _root(1), "negative"),
    ],
)
def test_split_views_and_rollbacks(size: int, root: bytes, match: str) -> None:
    with pytest.raises(ConsistencyProofError, match=match):
        check_against_live_log(FakeLog(_note(4)), size=size, root_hash=root, log_keys=KEYS)


@pytest.mark.parametrize(
    "proof", [["zz"], "not a list", [1, 2], [], ["00" * 32], ["00" * 31, "00" * 33]]
)
def test_malformed_or_invalid_proofs(proof: Any) -> None:
    log = FakeLog(_note(7), proof=proof)
    with pytest.raises(ConsistencyProofError):
        check_against_live_log(log, size=3, root_hash=_root(3), log_keys=KEYS)


def test_truncated_proof_is_invalid() -> None:
    full = merkle.consistency_proof_from_leaves(LEAF_HASHES, 3)
    log = FakeLog(_note(7), proof=[h.hex() for h in full[:-1]])
    with pytest.raises(ConsistencyProofError):
        check_against_live_log(log, size=3, root_hash=_root(3), log_keys=KEYS)


def test_live_checkpoint_must_verify_with_the_pinned_keys() -> None:
    with pytest.raises(CheckpointError, match="not signed by any pinned"):
        check_against_live_log(
            FakeLog(_note(7, key=OTHER_KEY)), size=3, root_hash=_root(3), log_keys=KEYS
        )
    with pytest.raises(CheckpointError, match="no pinned log keys"):
        check_against_live_log(FakeLog(_note(7)), size=3, root_hash=_root(3), log_keys=[])
    with pytest.raises(CheckpointError):
        check_against_live_log(FakeLog("garbage"), size=3, root_hash=_root(3), log_keys=KEYS)
    with pytest.raises(CheckpointError, match="not a signed note"):
        check_against_live_log(FakeLog(12), size=3, root_hash=_root(3), log_keys=KEYS)
    # log_keys=None: the caller pinned nothing, so only the trees are compared.
    live = check_against_live_log(
        FakeLog(_note(7, key=OTHER_KEY)), size=3, root_hash=_root(3), log_keys=None
    )
    assert live.size == 7


def test_another_origin_is_another_log() -> None:
    with pytest.raises(ConsistencyProofError, match="is not the saved"):
        fetch_live_tree(FakeLog(_note(7, origin="elsewhere - 1")), log_keys=KEYS, origin=ORIGIN)


def test_network_faults_stay_network_errors() -> None:
    class Down(FakeLog):
        def log_info(self) -> dict[str, Any]:
            raise NetworkError("down")

    with pytest.raises(NetworkError):
        check_against_live_log(Down(None), size=1, root_hash=_root(1), log_keys=KEYS)
    refused = FakeLog(_note(7), proof=LogServerError("400", status=400))
    with pytest.raises(LogServerError):
        check_against_live_log(refused, size=3, root_hash=_root(3), log_keys=KEYS)


def test_proof_hashes_asks_only_when_there_is_something_to_prove() -> None:
    log = FakeLog(_note(7))
    assert proof_hashes(log, 0, 7) == [] and proof_hashes(log, 7, 7) == []
    assert log.asked == []
    assert proof_hashes(log, 2, 7) == merkle.consistency_proof_from_leaves(LEAF_HASHES, 2)


def test_check_extends_reuses_a_fetched_tree() -> None:
    log = FakeLog(_note(7))
    live = fetch_live_tree(log, log_keys=KEYS)
    assert isinstance(live, LiveTree)
    for size in range(1, 8):
        check_extends(log, live, size=size, root_hash=_root(size))


# --------------------------------------------------------------------------------------------
# The same bad answer through every caller: the same error class
# --------------------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An entry published to a real log (tree size 1), its checkpoint and the log's key."""
    store = LogStore(tmp_path / "log.db")
    try:
        with (
            ThreadedServer(create_app(store, LOG_KEY, "live.test")) as server,
            RekorClient(server.url) as client,
        ):
            signer = ec.derive_private_key(0x11FE_0003, ec.SECP256R1())
            doc = client.publish_dsse(link_envelope(signer, "s"), pem(signer))
            note = client.log_info()["signedTreeHead"]
    finally:
        store.close()
    (tmp_path / "entry.json").write_text(json.dumps(doc))
    (tmp_path / "cp.txt").write_text(note)
    (tmp_path / "log.pub").write_bytes(pem(LOG_KEY))
    yield {"doc": doc, "note": note, "dir": tmp_path}


def _bad_log(answers: dict[str, Any]) -> Starlette:
    async def log_info(request: Request) -> JSONResponse:
        return JSONResponse(answers["log"])

    async def proof(request: Request) -> JSONResponse:
        return JSONResponse(answers["proof"])

    return Starlette(routes=[Route("/api/v1/log", log_info), Route("/api/v1/log/proof", proof)])


def _answers(saved_note: str, *, size: int, key: Any, hashes: Any) -> dict[str, Any]:
    old = checkpoint.parse(saved_note)
    root = hashlib.sha256(b"live root").digest()
    note = checkpoint.sign(
        checkpoint.Checkpoint(origin=old.origin, size=size, root_hash=root),
        key=key,
        name="live.test",
    ).text
    return {
        "log": {"signedTreeHead": note, "treeSize": size, "rootHash": root.hex(), "treeID": "1"},
        "proof": {"rootHash": root.hex(), "hashes": hashes},
    }


@pytest.mark.parametrize(
    ("case", "size", "key", "hashes", "error"),
    [
        ("malformed proof", 4, LOG_KEY, ["zz"], ConsistencyProofError),
        ("invalid proof", 4, LOG_KEY, ["00" * 32, "11" * 32], ConsistencyProofError),
        ("rollback", 0, LOG_KEY, [], ConsistencyProofError),
        ("same size, other root", 1, LOG_KEY, [], ConsistencyProofError),
        ("unpinned checkpoint key", 4, OTHER_KEY, [], CheckpointError),
    ],
)
def test_every_caller_raises_the_same_class(
    saved: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    case: str,
    size: int,
    key: Any,
    hashes: Any,
    error: type[Exception],
) -> None:
    answers = _answers(saved["note"], size=size, key=key, hashes=hashes)
    directory: Path = saved["dir"]
    with ThreadedServer(_bad_log(answers)) as bad:
        # 1. verify --online (the bundle verifier's checker)
        layout: Any = SimpleNamespace(logs=[SimpleNamespace(pem=pem(LOG_KEY).decode(), url=None)])
        proof = next(iter(saved["doc"].values()))["verification"]["inclusionProof"]
        summary = {"tree_size": proof["treeSize"], "root_hash": proof["rootHash"]}
        with pytest.raises(error) as online:
            OnlineConsistency(url=bad.url)(layout, "step", summary)
        # 2. log verify --url and 3. log consistency, as the CLI reports them
        key_args = ["--log-key", str(directory / "log.pub")]
        entry = str(directory / "entry.json")
        assert main(["--json", "log", "verify", entry, *key_args, "--url", bad.url]) == 1
        verify_error = json.loads(capsys.readouterr().out)["error"]["type"]
        cp = str(directory / "cp.txt")
        assert (
            main(["--json", "log", "consistency", "--url", bad.url, "--from", cp, *key_args]) == 1
        )
        consistency_error = json.loads(capsys.readouterr().out)["error"]["type"]
    assert type(online.value) is error, case
    assert verify_error == consistency_error == error.__name__, case
