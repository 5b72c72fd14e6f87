"""Identity functionaries end to end: a step signed with a short-lived certificate (keyless),
logged in the embedded log, carried in a bundle v2, verified against the layout's identity and
trust.ca — and each way it can be wrong fails check 2 with its own error."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from keyless_ca import FakeFulcio, make_ca, pem_public
from securesystemslib.signer import CryptoSigner

from atlas_intoto.bundle import Bundle, LinkEvidence
from atlas_intoto.bundle_v2 import serialize_bundle_v2
from atlas_intoto.demo import EmbeddedLog
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout
from atlas_intoto.sigstore_bundle import make_bundle
from atlas_intoto.statement import link_statement, sign_statement
from atlas_intoto.tlog.rekor_v1 import RekorV1Publisher
from atlas_intoto.verify import verify_bundle
from atlas_intoto.verify.report import VerificationReport

ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "https://github.com/acme/model/.github/workflows/train.yml@refs/heads/main"


@dataclass
class Keyless:
    root: Path
    ca: FakeFulcio
    owner_pem: bytes
    log: EmbeddedLog

    def layout(
        self,
        identity: dict[str, str] | None,
        *,
        threshold: int = 1,
        extra: int = 0,
        keys: tuple[str, ...] = (),
    ) -> Any:
        functionaries: dict[str, Any] = {}
        names = []
        if identity is not None:
            functionaries["trainer"] = {"identity": identity}
            names.append("trainer")
        for i in range(extra):
            functionaries[f"trainer{i}"] = {"identity": identity}
            names.append(f"trainer{i}")
        for name in keys:
            functionaries[name] = f"{name}.pub"
            names.append(name)
        doc = {
            "apiVersion": "atlas-intoto/v1",
            "kind": "Layout",
            "expires": "2099-01-01T00:00:00Z",
            "functionaries": functionaries,
            "steps": [
                {
                    "name": "train",
                    "functionaries": names,
                    "threshold": threshold,
                    "products": ["ALLOW model.bin"],
                }
            ],
            "trust": {
                "logs": [{"key": "log.pub"}],
                "ca": {"roots": ["ca-root.pem"], "ct_keys": ["ct.pub"]},
            },
        }
        source = self.root / "layout.yaml"
        source.write_text(json.dumps(doc))
        signed = sign_layout(load_and_pin(source), [load_signer(self.root / "owner.key")])
        return json.loads(signed)


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory, log_server: EmbeddedLog) -> Keyless:
    root = tmp_path_factory.mktemp("keyless")
    ca = make_ca()
    (root / "ca-root.pem").write_text(ca.chain_pem)
    (root / "root-only.pem").write_text(ca.root_pem)
    (root / "ct.pub").write_text(ca.ct_pem)
    (root / "log.pub").write_bytes(log_server.public_key_pem)
    generate_keypair("owner", directory=root)
    generate_keypair("release", directory=root)
    return Keyless(root=root, ca=ca, owner_pem=(root / "owner.pub").read_bytes(), log=log_server)


def _attestation(
    k: Keyless,
    *,
    subject: str = SUBJECT,
    issuer: str = ISSUER,
    not_before: dt.datetime | None = None,
    sct: bool = True,
    ca: FakeFulcio | None = None,
    ct_key: ec.EllipticCurvePrivateKey | None = None,
    log: bool = True,
    product: str = "model.bin",
) -> LinkEvidence:
    """A Statement signed with a fresh key certified for (issuer, subject), logged, in its
    Sigstore bundle."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    leaf = (ca or k.ca).leaf(
        key, subject=subject, issuer=issuer, not_before=start, sct=sct, ct_key=ct_key
    )
    statement = link_statement(
        name="train",
        materials={},
        products={product: {"sha256": "ab" * 32}},
        command=["python", "train.py"],
        byproducts={},
        environment={},
    )
    envelope = sign_statement(statement, CryptoSigner(key))
    entry = RekorV1Publisher(k.log.url).publish(envelope, pem_public(key).encode()) if log else None
    der = leaf.public_bytes(serialization.Encoding.DER)
    doc = make_bundle(envelope, log_entry=entry, certificate=der)
    return LinkEvidence(step="train", envelope=envelope, log_entry=entry, sigstore_bundle=doc)


def _verify(k: Keyless, layout: Any, *links: LinkEvidence) -> VerificationReport:
    data = serialize_bundle_v2(Bundle(layout=layout, links=tuple(links)))
    return verify_bundle(data, layout_keys=[k.owner_pem])


def _first(report: VerificationReport) -> tuple[str, str | None]:
    failure = report.first_failure
    assert failure is not None, report.text()
    return failure.check, failure.error


def test_keyless_step_verifies_for_its_identity(keyless: Keyless) -> None:
    layout = keyless.layout({"issuer": ISSUER, "subject": SUBJECT})
    report = _verify(keyless, layout, _attestation(keyless))
    assert report.ok, report.text()
    rows = [r for r in report.results if r.check == "links"]
    assert any("valid at the trusted time" in r.reason for r in rows)
    assert report.steps[0].functionaries == ("trainer",)


def test_subject_pattern_matches_the_whole_subject(keyless: Keyless) -> None:
    layout = keyless.layout(
        {"issuer": ISSUER, "subject_pattern": r"https://github\.com/acme/model/.+@refs/heads/main"}
    )
    assert _verify(keyless, layout, _attestation(keyless)).ok
    partial = keyless.layout({"issuer": ISSUER, "subject_pattern": r"https://github\.com/acme"})
    assert _first(_verify(keyless, partial, _attestation(keyless))) == (
        "links",
        "IdentitySubjectError",
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"subject": "https://github.com/evil/model/.github/workflows/x.yml@refs/heads/main"},
            "IdentitySubjectError",
        ),
        ({"issuer": "https://gitlab.com"}, "IdentityIssuerError"),
        ({"sct": False}, "CertificateSctError"),
        ({"ct_key": "other"}, "CertificateSctError"),
        ({"ca": "other"}, "CertificateChainError"),
        ({"not_before": "expired"}, "CertificateTimeError"),
        ({"log": False}, "CertificateTimeError"),
    ],
)
def test_each_wrong_certificate_fails_with_its_error(
    keyless: Keyless, change: dict[str, Any], error: str
) -> None:
    layout = keyless.layout({"issuer": ISSUER, "subject": SUBJECT})
    kwargs = dict(change)
    if kwargs.get("ct_key") == "other":
        kwargs["ct_key"] = ec.generate_private_key(ec.SECP256R1())
    if kwargs.get("ca") == "other":
        kwargs["ca"] = make_ca()
    if kwargs.get("not_before") == "expired":
        kwargs["not_before"] = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    if kwargs.get("log") is False:
        # no log entry: nothing proves when the short-lived certificate was used
        layout = _layout_without_logs(keyless)
    report = _verify(keyless, layout, _attestation(keyless, **kwargs))
    assert _first(report) == ("links", error)


def _layout_without_logs(k: Keyless) -> Any:
    doc = json.loads((k.root / "layout.yaml").read_text())
    source = k.root / "layout-nolog.yaml"
    doc["trust"].pop("logs")
    doc["trust"]["ca"] = {"roots": ["ca-root.pem"], "ct_keys": ["ct.pub"]}
    source.write_text(json.dumps(doc))
    return json.loads(sign_layout(load_and_pin(source), [load_signer(k.root / "owner.key")]))


def test_a_changed_statement_fails_the_certificate_signature(keyless: Keyless) -> None:
    import base64

    layout = keyless.layout({"issuer": ISSUER, "subject": SUBJECT})
    good = _attestation(keyless)
    doc = json.loads(json.dumps(good.sigstore_bundle))
    payload = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    payload["subject"][0]["name"] = "evil.bin"
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    data = json.loads(serialize_bundle_v2(Bundle(layout=layout, links=(good,))))
    data["steps"]["train"]["attestations"][0]["sigstore_bundle"] = doc
    report = verify_bundle(json.dumps(data).encode(), layout_keys=[keyless.owner_pem])
    assert _first(report) == ("links", "CertificateSignatureError")


def test_a_public_key_bundle_for_an_identity_step_fails(keyless: Keyless) -> None:
    layout = keyless.layout({"issuer": ISSUER, "subject": SUBJECT})
    good = _attestation(keyless)
    doc = make_bundle(good.envelope, log_entry=good.log_entry, key_hint="")
    item = LinkEvidence(
        step="train", envelope=good.envelope, log_entry=good.log_entry, sigstore_bundle=doc
    )
    assert _first(_verify(keyless, layout, item)) == ("links", "CertificateFormatError")


def test_threshold_counts_distinct_identities(keyless: Keyless) -> None:
    # two functionaries naming the same identity: two certificates of one identity are one
    layout = keyless.layout({"issuer": ISSUER, "subject": SUBJECT}, threshold=2, extra=1)
    report = _verify(keyless, layout, _attestation(keyless), _attestation(keyless))
    assert _first(report) == ("links", "ThresholdError")


def test_trusted_time_is_the_log_time(keyless: Keyless) -> None:
    # the certificate was valid when logged; the verifier's clock long after does not matter
    layout = keyless.layout({"issuer": ISSUER, "subject": SUBJECT})
    data = serialize_bundle_v2(Bundle(layout=layout, links=(_attestation(keyless),)))
    report = verify_bundle(data, layout_keys=[keyless.owner_pem], now=int(time.time()) + 30 * 86400)
    assert report.ok, report.text()


def _root_only_layout(k: Keyless) -> Any:
    doc = json.loads((k.root / "layout.yaml").read_text())
    doc["trust"]["ca"]["roots"] = ["root-only.pem"]
    source = k.root / "layout-root.yaml"
    source.write_text(json.dumps(doc))
    return json.loads(sign_layout(load_and_pin(source), [load_signer(k.root / "owner.key")]))


def test_intermediates_from_the_sigstore_bundle_chain_to_a_pinned_root(keyless: Keyless) -> None:
    import base64

    keyless.layout({"issuer": ISSUER, "subject": SUBJECT})
    layout = _root_only_layout(keyless)
    item = _attestation(keyless)
    # a v0.3 bundle carries the leaf only: the intermediate is neither pinned nor carried
    assert _first(_verify(keyless, layout, item)) == ("links", "CertificateChainError")
    # a v0.2 bundle's x509CertificateChain carries it (untrusted: it only links to the root)
    doc = json.loads(json.dumps(item.sigstore_bundle))
    leaf = doc["verificationMaterial"].pop("certificate")
    intermediate = keyless.ca.ca.intermediate.public_bytes(serialization.Encoding.DER)
    doc["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2"
    doc["verificationMaterial"]["x509CertificateChain"] = {
        "certificates": [leaf, {"rawBytes": base64.b64encode(intermediate).decode()}]
    }
    chained = LinkEvidence(
        step="train", envelope=item.envelope, log_entry=item.log_entry, sigstore_bundle=doc
    )
    assert _verify(keyless, layout, chained).ok


def _key_signed(k: Keyless, template: LinkEvidence) -> LinkEvidence:
    """The same Statement signed by the key functionary ``release``, logged, in a Sigstore
    bundle carrying keygen's dev CA leaf (as recording with a key file writes it)."""
    from atlas_intoto.link import read_unverified_link

    fields = read_unverified_link(template.envelope)
    statement = link_statement(
        name="train",
        materials={},
        products={p: dict(d) for p, d in fields.products.items()},
        command=list(fields.command),
        byproducts={},
        environment={},
    )
    envelope = sign_statement(statement, load_signer(k.root / "release.key"))
    entry = RekorV1Publisher(k.log.url).publish(envelope, (k.root / "release.pub").read_bytes())
    leaf = x509.load_pem_x509_certificate((k.root / "release.crt").read_bytes())
    doc = make_bundle(
        envelope, log_entry=entry, certificate=leaf.public_bytes(serialization.Encoding.DER)
    )
    return LinkEvidence(step="train", envelope=envelope, log_entry=entry, sigstore_bundle=doc)


def test_a_step_of_a_key_and_an_identity_counts_both_toward_its_threshold(
    keyless: Keyless,
) -> None:
    layout = keyless.layout({"issuer": ISSUER, "subject": SUBJECT}, threshold=2, keys=("release",))
    certified = _attestation(keyless)
    report = _verify(keyless, layout, certified, _key_signed(keyless, certified))
    assert report.ok, report.text()
    assert "2 link(s) signed by release" in report.results[1].reason
    # one of the two is not the threshold
    assert _first(_verify(keyless, layout, certified)) == ("links", "ThresholdError")


def test_a_keyless_attestation_for_a_step_of_keys_only_fails(keyless: Keyless) -> None:
    layout = keyless.layout(None, keys=("release",))
    report = _verify(keyless, layout, _attestation(keyless))
    assert _first(report) == ("links", "LinkSignatureError")


def test_a_certificate_of_the_right_identity_for_another_key_fails(keyless: Keyless) -> None:
    layout = keyless.layout({"issuer": ISSUER, "subject": SUBJECT})
    good = _attestation(keyless)
    other = keyless.ca.leaf(
        ec.generate_private_key(ec.SECP256R1()),
        subject=SUBJECT,
        issuer=ISSUER,
        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
    )
    doc = json.loads(json.dumps(good.sigstore_bundle))
    doc["verificationMaterial"]["certificate"]["rawBytes"] = base64.b64encode(
        other.public_bytes(serialization.Encoding.DER)
    ).decode()
    item = LinkEvidence(
        step="train", envelope=good.envelope, log_entry=good.log_entry, sigstore_bundle=doc
    )
    assert _first(_verify(keyless, layout, item)) == ("links", "CertificateSignatureError")


def _logged_with(
    k: Keyless, key: ec.EllipticCurvePrivateKey, logged: x509.Certificate, carried: x509.Certificate
) -> LinkEvidence:
    """A Statement signed by ``key``, logged with ``logged`` as the entry's verifier, its
    Sigstore bundle carrying ``carried``."""
    statement = link_statement(
        name="train",
        materials={},
        products={"model.bin": {"sha256": "ab" * 32}},
        command=["python", "train.py"],
        byproducts={},
        environment={},
    )
    envelope = sign_statement(statement, CryptoSigner(key))
    pem = logged.public_bytes(serialization.Encoding.PEM)
    entry = RekorV1Publisher(k.log.url).publish(envelope, pem)
    doc = make_bundle(
        envelope, log_entry=entry, certificate=carried.public_bytes(serialization.Encoding.DER)
    )
    return LinkEvidence(step="train", envelope=envelope, log_entry=entry, sigstore_bundle=doc)


def test_the_bundle_certificate_must_be_the_one_the_log_entry_records(keyless: Keyless) -> None:
    from atlas_intoto.verify.checks.identity import logged_certificates

    layout = keyless.layout({"issuer": ISSUER, "subject": SUBJECT})
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    ours = keyless.ca.leaf(key, subject=SUBJECT, issuer=ISSUER, not_before=start)
    # the same key certified for another identity: what the log recorded as the verifier
    theirs = keyless.ca.leaf(key, subject=SUBJECT + "-other", issuer=ISSUER, not_before=start)
    same = _logged_with(keyless, key, ours, ours)
    assert logged_certificates(same.log_entry) == {ours.public_bytes(serialization.Encoding.DER)}
    assert _verify(keyless, layout, same).ok
    swapped = _logged_with(keyless, key, theirs, ours)
    assert _first(_verify(keyless, layout, swapped)) == ("links", "CertificateEntryError")


def test_a_log_entry_of_another_attestation_gives_no_trusted_time(keyless: Keyless) -> None:
    # the entry (and its time) of another signature of the same identity does not cover this one
    layout = keyless.layout({"issuer": ISSUER, "subject": SUBJECT})
    mine, other = _attestation(keyless, log=False), _attestation(keyless, product="other.bin")
    assert mine.sigstore_bundle is not None
    certificate = mine.sigstore_bundle["verificationMaterial"]["certificate"]["rawBytes"]
    doc = make_bundle(
        mine.envelope, log_entry=other.log_entry, certificate=base64.b64decode(certificate)
    )
    borrowed = LinkEvidence(
        step="train", envelope=mine.envelope, log_entry=other.log_entry, sigstore_bundle=doc
    )
    report = _verify(keyless, layout, borrowed)
    failed = {(r.check, r.error) for r in report.results if not r.passed}
    assert ("links", "CertificateTimeError") in failed, report.text()
    assert any(check == "tlog" for check, _ in failed), report.text()
