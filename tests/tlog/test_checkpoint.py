"""Signed-note checkpoints: our own round trips and the real Sigstore checkpoints."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from helpers import pem

from atlas_intoto.errors import CheckpointError
from atlas_intoto.tlog import checkpoint as cpmod
from atlas_intoto.tlog.checkpoint import Checkpoint

ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()


@pytest.fixture(params=["p256", "ed25519"])
def log_private_key(
    request: pytest.FixtureRequest,
) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    if request.param == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _unsigned(**kw: object) -> Checkpoint:
    args: dict[str, object] = {
        "origin": cpmod.origin_for("log.example", 1234567890123),
        "size": 42,
        "root_hash": ROOT,
    }
    args.update(kw)
    return Checkpoint(**args)  # type: ignore[arg-type]


def test_text_layout_matches_rekor(
    log_private_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> None:
    signed = cpmod.sign(_unsigned(), key=log_private_key, name="log.example")
    lines = signed.text.split("\n")
    assert lines[:4] == ["log.example - 1234567890123", "42", ROOT_B64, ""]
    assert lines[4].startswith("\u2014 log.example ")
    assert lines[5:] == [""]
    raw = base64.b64decode(lines[4].split(" ")[2])
    assert raw[:4] == cpmod.log_key(pem(log_private_key)).log_id[:4]
    assert signed.body == f"log.example - 1234567890123\n42\n{ROOT_B64}\n".encode()


def test_sign_parse_verify_round_trip(
    log_private_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> None:
    unsigned = _unsigned(other_lines=("Timestamp: 1700000000000000000",))
    signed = cpmod.sign(unsigned, key=log_private_key, name="log.example")
    got = cpmod.verify(signed.text, [pem(log_private_key)])
    assert got == signed
    assert got.other_lines == ("Timestamp: 1700000000000000000",)
    assert cpmod.verify(signed.text.encode(), [log_private_key.public_key()]) == signed
    cpmod.verify(signed.text, [pem(log_private_key)], origin="log.example - 1234567890123")
    with pytest.raises(CheckpointError, match="origin"):
        cpmod.verify(signed.text, [pem(log_private_key)], origin="other - 1")


def test_cosignatures_are_preserved_and_ignored() -> None:
    log = ec.generate_private_key(ec.SECP256R1())
    witness = ed25519.Ed25519PrivateKey.generate()
    signed = cpmod.sign(_unsigned(), key=log, name="log.example")
    cosigned = cpmod.sign(signed, key=witness, name="witness.example")
    # A witness line first must not hide the log's signature.
    reordered = Checkpoint(
        origin=cosigned.origin,
        size=cosigned.size,
        root_hash=cosigned.root_hash,
        signatures=tuple(reversed(cosigned.signatures)),
    )
    for cp in (cosigned, reordered):
        got = cpmod.verify(cp.text, [pem(log)])
        assert [s.name for s in got.signatures] == [s.name for s in cp.signatures]
        assert got.text == cp.text
    cpmod.verify(cosigned.text, [pem(witness)])


def test_wrong_key_and_tampering_rejected() -> None:
    log = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    signed = cpmod.sign(_unsigned(), key=log, name="log.example")
    with pytest.raises(CheckpointError, match="not signed by any pinned"):
        cpmod.verify(signed.text, [pem(other)])
    tampered = signed.text.replace("\n42\n", "\n43\n")
    with pytest.raises(CheckpointError, match="does not verify"):
        cpmod.verify(tampered, [pem(log)])
    with pytest.raises(CheckpointError, match="no pinned"):
        cpmod.verify(signed.text, [])
    with pytest.raises(CheckpointError, match="log key"):
        cpmod.verify(
            signed.text, [b"-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n"]
        )


_SIG = "\u2014 log.example " + base64.b64encode(b"\x01\x02\x03\x04" + b"s" * 64).decode() + "\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "newline"),
        (f"o\n1\n{ROOT_B64}\n\n{_SIG}".rstrip("\n"), "newline"),
        (f"o\n1\n{ROOT_B64}\n{_SIG}", "blank line"),
        (f"o\n1\n{ROOT_B64}\n\n", "no signature"),
        (f"o\n1\n\n{_SIG}", "fewer than 3"),
        (f"\n1\n{ROOT_B64}\n\n{_SIG}", "blank line|empty origin"),
        (f"o\n01\n{ROOT_B64}\n\n{_SIG}", "tree size"),
        (f"o\n-1\n{ROOT_B64}\n\n{_SIG}", "tree size"),
        (f"o\n18446744073709551616\n{ROOT_B64}\n\n{_SIG}", "tree size"),
        (f"o\n1\n!!!!\n\n{_SIG}", "base64"),
        (f"o\n1\n{base64.b64encode(b'x' * 31).decode()}\n\n{_SIG}", "32"),
        (f"o\n1\n{ROOT_B64}\n\n- log.example AAAAAAAA\n", "signature line"),
        (f"o\n1\n{ROOT_B64}\n\n\u2014 log.example AAAA\n", "too short"),
        (f"o\n1\n{ROOT_B64}\n\n\u2014 log.example AAAAAAAA!\n", "base64"),
        (f"o\n1\n{ROOT_B64}\n\n\u2014 a b c\n", "signature line"),
        (f"o\n1\n{ROOT_B64}\n\n\u2014 bad+name AAAAAAAA\n", "signature line"),
        (f"o\x00\n1\n{ROOT_B64}\n\n{_SIG}", "control"),
        (f"o\n1\n{ROOT_B64}\n\n{_SIG}\n{_SIG}", "blank line"),
    ],
)
def test_malformed_notes_rejected(text: str, reason: str) -> None:
    with pytest.raises(CheckpointError, match=reason):
        cpmod.parse(text)


def test_non_utf8_and_oversized_rejected() -> None:
    with pytest.raises(CheckpointError, match="UTF-8"):
        cpmod.parse(b"\xff\xfe\n1\n\n")
    with pytest.raises(CheckpointError, match="1 MiB"):
        cpmod.parse(b"o" * (2 << 20))


# --------------------------------------------------------------------------------------------
# Real checkpoints from the public Sigstore instances (sigstore-conformance)
# --------------------------------------------------------------------------------------------


def _case(shared: Path, name: str) -> tuple[str, list[bytes]]:
    case = shared / "sigstore-conformance" / "bundle-verify" / name
    bundle = json.loads((case / "bundle.sigstore.json").read_text())
    envelope = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"][
        "envelope"
    ]
    root_path = case / "trusted_root.json"
    if not root_path.exists():
        import sigstore

        root_path = (
            Path(sigstore.__file__).parent
            / "_store"
            / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
            / "trusted_root.json"
        )
    tlogs = json.loads(root_path.read_text())["tlogs"]
    return envelope, [base64.b64decode(t["publicKey"]["rawBytes"]) for t in tlogs]


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("happy-path-v0.3", 75408393),  # Rekor v1, ECDSA P-256
        ("happy-path-v0.1", 23083062),
        ("managed-key-happy-path", 649584076),
        ("rekor2-happy-path", 736),  # Rekor v2 (Tessera), Ed25519, C2SP key hint
        ("rekor2-checkpoint-cosigned", 736),  # plus a witness's timestamped cosignature
        ("rekor2-checkpoint-origin-not-first", 736),
        ("rekor2-checkpoint-two-sigs-cosigned", 736),
        ("rekor2-checkpoint-multiple-cosigs", 736),
    ],
)
def test_real_checkpoints_verify(shared_testdata: Path, name: str, size: int) -> None:
    envelope, keys = _case(shared_testdata, name)
    cp = cpmod.verify(envelope, keys)
    assert cp.size == size
    assert cp.text == envelope


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("checkpoint-bad-keyhint_fail", "not signed by any pinned"),
        ("invalid-checkpoint-signature_fail", "does not verify"),
        ("bundle-from-wrong-instance_fail", "not signed by any pinned"),
        ("rekor2-checkpoint-missing-log-signature_fail", "no signature"),
        ("rekor2-checkpoint-missing-origin_fail", "fewer than 3"),
        ("rekor2-checkpoint-missing-root-hash_fail", "fewer than 3"),
        ("rekor2-checkpoint-missing-size_fail", "fewer than 3"),
        ("rekor2-checkpoint-no-matching-signature_fail", "not signed by any pinned"),
    ],
)
def test_real_bad_checkpoints_rejected(shared_testdata: Path, name: str, reason: str) -> None:
    envelope, keys = _case(shared_testdata, name)
    with pytest.raises(CheckpointError, match=reason):
        cpmod.verify(envelope, keys)
