"""Helpers shared by the layout tests (importable as ``layout_helpers``: pytest puts this
directory on sys.path, the tests not being a package)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import rfc8785

from atlas_intoto.keys import load_public_key, load_signer
from atlas_intoto.layout import LAYOUT_PAYLOAD_TYPE, load_and_pin, sign_layout

REPO = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000  # 2027-01-15

SOURCE = """\
apiVersion: atlas-intoto/v1
kind: Layout
expires: "2028-01-01T00:00:00Z"
readme: test pipeline
functionaries: {data-eng: keys/data-eng.pub, trainer: keys/trainer.pub}
trust:
  logs: [{key: keys/log.pub}]
  tee: {roots: [intel, keys/ca.crt], allow_tcb_status: [UpToDate]}
  c2pa: {anchors: [keys/ca.crt]}
steps:
  - name: prepare
    functionaries: [data-eng]
    threshold: 1
    expected_command: [python, prepare.py]
    materials: ["ALLOW raw/*"]
    products: ["CREATE data/*", "DISALLOW *"]
    tee: {required: true}
    c2pa: {required: true}
  - name: train
    functionaries: [trainer]
    materials: ["MATCH data/* WITH PRODUCTS FROM prepare", "ALLOW train.py", "DISALLOW *"]
    products: ["CREATE model/*", "DISALLOW *"]
"""


def signed_envelope(project: Path, *owners: str) -> dict[str, Any]:
    """The signed layout (envelope document) of ``project``'s source, by ``owners``."""
    pinned = load_and_pin(project / "layout.yaml")
    signers = [load_signer(project / "keys" / f"{o}.key") for o in owners or ("owner",)]
    return json.loads(sign_layout(pinned, signers))  # type: ignore[no-any-return]


def pub_key(project: Path, name: str):  # type: ignore[no-untyped-def]
    """The SSlibKey of ``project``'s key ``name``."""
    return load_public_key(project / "keys" / f"{name}.pub")


def resign(project: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` signed by the owner as it is (no validation): securesystemslib's DSSE, an
    independent implementation."""
    from securesystemslib.dsse import Envelope

    env = Envelope(payload=rfc8785.dumps(doc), payload_type=LAYOUT_PAYLOAD_TYPE, signatures={})
    env.sign(load_signer(project / "keys" / "owner.key"))
    return env.to_dict()  # type: ignore[no-any-return]
