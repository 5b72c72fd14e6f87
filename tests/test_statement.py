"""in-toto Statement v1: the Link v0.3 predicate of a step, SLSA Provenance v1 read as a step, and
both read through the one link loader."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto.binding import step_binding_digest
from atlas_intoto.errors import FormatError, LinkSignatureError
from atlas_intoto.keys import generate_keypair, load_public_key, load_signer
from atlas_intoto.link import load_link, read_unverified_link, sign_link
from atlas_intoto.statement import (
    LINK_PREDICATE,
    LINK_V09,
    SLSA_PROVENANCE,
    STATEMENT_TYPE,
    link_statement,
    sign_statement,
    statement_fields,
)

MATERIALS = {"src/train.py": {"sha256": "aa" * 32}, "data/a.csv": {"sha256": "bb" * 32}}
PRODUCTS = {"model/m.npz": {"sha256": "cc" * 32}}
ENVIRONMENT = {"atlas-intoto": {"version": 2, "binding": "00" * 32}}


def _statement() -> dict[str, Any]:
    return link_statement(
        name="train",
        materials=MATERIALS,
        products=PRODUCTS,
        command=["python", "train.py"],
        byproducts={"return-value": 0},
        environment=ENVIRONMENT,
    )


def test_link_statement_shape() -> None:
    doc = _statement()
    assert doc["_type"] == STATEMENT_TYPE
    assert doc["predicateType"] == LINK_PREDICATE
    assert doc["subject"] == [{"name": "model/m.npz", "digest": {"sha256": "cc" * 32}}]
    assert [m["name"] for m in doc["predicate"]["materials"]] == ["data/a.csv", "src/train.py"]
    assert doc["predicate"]["environment"] == ENVIRONMENT


def test_statement_fields_round_trip() -> None:
    fields = statement_fields(_statement(), source="s")
    assert fields["name"] == "train"
    assert fields["materials"] == MATERIALS and fields["products"] == PRODUCTS
    assert fields["command"] == ["python", "train.py"]
    assert fields["environment"] == ENVIRONMENT
    assert fields["predicate_type"] == LINK_PREDICATE


def _provenance() -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "model/m.npz", "digest": {"sha256": "cc" * 32}}],
        "predicateType": SLSA_PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://atlas-intoto.dev/step/v1",
                "externalParameters": {"step": "train", "command": ["python", "train.py"]},
                "internalParameters": {"atlas-intoto": {"version": 2}},
                "resolvedDependencies": [{"name": "data/a.csv", "digest": {"sha256": "bb" * 32}}],
            },
            "runDetails": {"builder": {"id": "https://example.com/builder"}},
        },
    }


def test_slsa_provenance_is_read_as_a_build_step() -> None:
    fields = statement_fields(_provenance(), source="p")
    assert fields["name"] == "train"
    assert fields["materials"] == {"data/a.csv": {"sha256": "bb" * 32}}
    assert fields["products"] == PRODUCTS
    assert fields["environment"] == {"atlas-intoto": {"version": 2}}
    assert fields["predicate_type"] == SLSA_PROVENANCE


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(_type="https://in-toto.io/Statement/v0.1"), "_type"),
        (lambda d: d.update(predicateType="https://example.com/x"), "predicateType"),
        (lambda d: d.update(subject={"a": 1}), "subject"),
        (lambda d: d["subject"].append(copy.deepcopy(d["subject"][0])), r"subject\[1\].name"),
        (lambda d: d["subject"][0].update(digest={}), r"subject\[0\].digest"),
        (lambda d: d["predicate"].update(name=""), "predicate.name"),
        (lambda d: d["predicate"].update(command="python train.py"), "predicate.command"),
        (lambda d: d["predicate"]["materials"][0].pop("name"), r"materials\[0\].name"),
        (lambda d: d["predicate"].update(environment=[]), "predicate.environment"),
        (lambda d: d.update(predicate=None), "predicate"),
    ],
)
def test_malformed_statements_name_the_field(mutate: Any, match: str) -> None:
    doc = _statement()
    mutate(doc)
    with pytest.raises(FormatError, match=match):
        statement_fields(doc, source="s")


def test_provenance_without_step_name_fails() -> None:
    doc = _provenance()
    del doc["predicate"]["buildDefinition"]["externalParameters"]["step"]
    with pytest.raises(FormatError, match=r"externalParameters\.step"):
        statement_fields(doc, source="p")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    for name in ("alice", "mallory"):
        generate_keypair(name, directory=directory)
    return directory


def test_statement_and_link_load_alike_with_the_same_binding(keys: Path) -> None:
    signer = load_signer(keys / "alice.key")
    key = load_public_key(keys / "alice.pub")
    envelope = sign_statement(_statement(), signer)
    link = sign_link(
        name="train",
        materials=MATERIALS,
        products=PRODUCTS,
        command=["python", "train.py"],
        byproducts={"return-value": 0},
        environment=ENVIRONMENT,
        signer=signer,
    )
    from_statement, from_link = load_link(envelope, [key]), load_link(link, [key])
    assert from_statement.predicate_type == LINK_PREDICATE
    assert from_link.predicate_type == LINK_V09
    for loaded in (from_statement, from_link):
        assert loaded.name == "train" and loaded.signed_by == (key.keyid,)
        assert (loaded.materials, loaded.products) == (MATERIALS, PRODUCTS)
        assert loaded.environment == ENVIRONMENT
    bindings = {
        step_binding_digest(
            step=x.name,
            materials=x.materials,
            products=x.products,
            command=x.command,
            keyid=key.keyid,
        )
        for x in (from_statement, from_link)
    }
    assert len(bindings) == 1
    assert read_unverified_link(envelope).name == "train"


def test_statement_signed_by_another_key_fails(keys: Path) -> None:
    envelope = sign_statement(_statement(), load_signer(keys / "mallory.key"))
    with pytest.raises(LinkSignatureError):
        load_link(envelope, [load_public_key(keys / "alice.pub")])


def test_tampered_statement_payload_fails_signature(keys: Path) -> None:
    import base64

    envelope = json.loads(sign_statement(_statement(), load_signer(keys / "alice.key")))
    doc = _statement()
    doc["subject"][0]["digest"]["sha256"] = "dd" * 32
    envelope["payload"] = base64.b64encode(json.dumps(doc).encode()).decode()
    with pytest.raises(LinkSignatureError):
        load_link(json.dumps(envelope).encode(), [load_public_key(keys / "alice.pub")])


def test_in_toto_attestation_validates_our_statement() -> None:
    """The in-toto Attestation Framework's own bindings accept the Statement we sign."""
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    parsed = json_format.ParseDict(_statement(), statement_pb2.Statement())
    Statement.copy_from_pb(parsed).validate()
    assert parsed.predicate_type == LINK_PREDICATE
