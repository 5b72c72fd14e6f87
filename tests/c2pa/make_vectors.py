"""Generate the C2PA verification vectors in tests/c2pa/vectors/ (run from the repo root).

    .venv/bin/python tests/c2pa/make_vectors.py

Keys are fixed (derived from constant scalars) and certificates have fixed validity
(2025-01-01 .. 2045-01-01), so anyone can regenerate equivalent vectors; the sidecars differ
byte-wise between runs (random manifest labels, ECDSA nonces) but test the same things.
Each vector names the verify_sidecar inputs and the expected error class (null = passes).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from atlas_intoto.c2pa import sign_products

OUT = Path(__file__).resolve().parent / "vectors"
NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(2045, 1, 1, tzinfo=datetime.UTC)
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
BINDINGS = {
    "prepare": hashlib.sha256(b"prepare").digest(),
    "train": hashlib.sha256(b"train").digest(),
    "finetune": hashlib.sha256(b"finetune").digest(),
}
QUOTE_DIGEST = hashlib.sha256(b"quote").hexdigest()


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "atlas-intoto vectors"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _ca(scalar: int, cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(scalar)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _functionary(
    directory: Path, name: str, scalar: int, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
) -> Path:
    ca_key, ca_cert = ca
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(scalar)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_path = directory / f"{name}.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem = serialization.Encoding.PEM
    key_path.with_suffix(".crt").write_bytes(leaf.public_bytes(pem) + ca_cert.public_bytes(pem))
    return key_path


def _digests(base: Path, *paths: str) -> dict[str, dict[str, str]]:
    return {p: {"sha256": hashlib.sha256((base / p).read_bytes()).hexdigest()} for p in paths}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="c2pa-vectors-"))
    try:
        trusted_ca = _ca(0xA71A5, "vectors trusted CA")
        rogue_ca = _ca(0x7060E, "vectors rogue CA")
        alice = _functionary(work, "alice", 0xA11CE, trusted_ca)
        mallory = _functionary(work, "mallory", 0x3A1102, rogue_ca)
        base = work / "ws"
        for rel, data in {
            "data/train.csv": b"text,label\nhello,1\nworld,0\n",
            "model/base.safetensors": b"\x00" * 64 + b"base weights",
            "model/ft.safetensors": b"\x00" * 64 + b"fine-tuned weights",
            "eval/metrics.json": b'{"metrics": {"accuracy": 0.91}}',
        }.items():
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / rel).write_bytes(data)

        def sign(
            out: str, step: str, products: tuple[str, ...], materials: tuple[str, ...], key: Path
        ) -> Path:
            evidence = work / out
            if materials and out != "main":
                shutil.copytree(work / "main", evidence, dirs_exist_ok=True)
            sign_products(
                step=step,
                binding=BINDINGS[step],
                quote_digest=QUOTE_DIGEST,
                products=_digests(base, *products),
                materials=_digests(base, *materials),
                base_path=base,
                evidence_dir=evidence,
                key_path=key,
                cert_chain_path=key.with_suffix(".crt"),
            )
            return evidence / "c2pa"

        main_dir = sign("main", "prepare", ("data/train.csv",), (), alice)
        sign("main", "train", ("model/base.safetensors",), ("data/train.csv",), alice)
        sign(
            "main",
            "finetune",
            ("model/ft.safetensors", "eval/metrics.json"),
            ("model/base.safetensors", "data/train.csv"),
            alice,
        )
        rogue_dir = sign(
            "rogue",
            "finetune",
            ("model/ft.safetensors",),
            ("model/base.safetensors", "data/train.csv"),
            mallory,
        )
        other_step_dir = sign(
            "other-step",
            "train",
            ("model/ft.safetensors",),
            ("model/base.safetensors", "data/train.csv"),
            alice,
        )
        # the same base model re-signed: a valid manifest that is not the one the chain used
        resigned_dir = sign(
            "resigned", "train", ("model/base.safetensors",), ("data/train.csv",), alice
        )

        blobs: dict[str, bytes] = {
            "ft.c2pa": (main_dir / "model/ft.safetensors.c2pa").read_bytes(),
            "metrics.c2pa": (main_dir / "eval/metrics.json.c2pa").read_bytes(),
            "base.c2pa": (main_dir / "model/base.safetensors.c2pa").read_bytes(),
            "train-csv.c2pa": (main_dir / "data/train.csv.c2pa").read_bytes(),
            "ft-rogue.c2pa": (rogue_dir / "model/ft.safetensors.c2pa").read_bytes(),
            "ft-other-step.c2pa": (other_step_dir / "model/ft.safetensors.c2pa").read_bytes(),
            "base-resigned.c2pa": (resigned_dir / "model/base.safetensors.c2pa").read_bytes(),
            "ft.safetensors": (base / "model/ft.safetensors").read_bytes(),
            "garbage.c2pa": b"this is not a JUMBF manifest store",
        }
        blobs["ft-truncated.c2pa"] = blobs["ft.c2pa"][: len(blobs["ft.c2pa"]) // 2]
        blobs["ft-tampered.safetensors"] = blobs["ft.safetensors"][:-1] + b"X"
        ft_sha = hashlib.sha256(blobs["ft.safetensors"]).hexdigest()
        materials = {"model/base.safetensors": "base.c2pa", "data/train.csv": "train-csv.c2pa"}

        def vector(
            name: str, expected: str | None, description: str, **changes: Any
        ) -> dict[str, Any]:
            doc: dict[str, Any] = {
                "description": description,
                "expected_error": expected,
                "sidecar": "ft.c2pa",
                "product_path": "model/ft.safetensors",
                "product_sha256": ft_sha,
                "anchors": ["trusted-ca.pem"],
                "step": "finetune",
                "binding": BINDINGS["finetune"].hex(),
                "quote_digest": QUOTE_DIGEST,
                "material_sidecars": materials,
                "asset": "ft.safetensors",
            }
            doc.update(changes)
            return {"name": name, **doc}

        vectors = [
            vector(
                "ok_with_asset", None, "3-step chain, fine-tuned model validated against its bytes"
            ),
            vector(
                "ok_offline",
                None,
                "no asset: signature + trust, hard binding compared to the link",
                asset=None,
            ),
            vector(
                "tampered_asset",
                "C2paBindingError",
                "one byte of the model changed",
                asset="ft-tampered.safetensors",
            ),
            vector(
                "link_digest_differs",
                "C2paBindingError",
                "offline: the link records another digest than the manifest binds",
                asset=None,
                product_sha256=hashlib.sha256(b"other").hexdigest(),
            ),
            vector(
                "untrusted_signer",
                "C2paTrustError",
                "signed under a CA that is not pinned",
                sidecar="ft-rogue.c2pa",
            ),
            vector(
                "untrusted_signer_offline",
                "C2paTrustError",
                "offline, signed under a CA that is not pinned",
                sidecar="ft-rogue.c2pa",
                asset=None,
            ),
            vector(
                "wrong_anchor",
                "C2paTrustError",
                "only the rogue CA pinned",
                anchors=["rogue-ca.pem"],
            ),
            vector(
                "other_step",
                "C2paStepAssertionError",
                "same bytes signed as a product of step train",
                sidecar="ft-other-step.c2pa",
            ),
            vector(
                "other_file",
                "C2paBindingError",
                "the metrics sidecar swapped in for the model's",
                sidecar="metrics.c2pa",
            ),
            vector(
                "wrong_binding",
                "C2paStepAssertionError",
                "link binding digest differs",
                binding="00" * 32,
            ),
            vector(
                "wrong_quote",
                "C2paStepAssertionError",
                "link quote digest differs",
                quote_digest="11" * 32,
            ),
            vector(
                "no_quote",
                "C2paStepAssertionError",
                "link has no TEE quote, manifest names one",
                quote_digest=None,
            ),
            vector(
                "garbage",
                "C2paManifestError",
                "sidecar bytes are not JUMBF",
                sidecar="garbage.c2pa",
            ),
            vector(
                "truncated", "C2paManifestError", "sidecar cut in half", sidecar="ft-truncated.c2pa"
            ),
            vector(
                "missing_ingredient",
                "C2paIngredientError",
                "a material with a manifest is not an ingredient",
                material_sidecars={**materials, "eval/metrics.json": "metrics.c2pa"},
            ),
            vector(
                "extra_ingredient",
                "C2paIngredientError",
                "an ingredient that is not among the link's materials",
                material_sidecars={"model/base.safetensors": "base.c2pa"},
            ),
            vector(
                "swapped_ingredient",
                "C2paIngredientError",
                "the material's sidecar is another valid manifest of the same file",
                material_sidecars={**materials, "model/base.safetensors": "base-resigned.c2pa"},
            ),
            vector(
                "garbage_material",
                "C2paIngredientError",
                "a material's sidecar is garbage",
                material_sidecars={**materials, "data/train.csv": "garbage.c2pa"},
            ),
        ]
        if OUT.exists():
            shutil.rmtree(OUT)
        (OUT / "blobs").mkdir(parents=True)
        pem = serialization.Encoding.PEM
        blobs["trusted-ca.pem"] = trusted_ca[1].public_bytes(pem)
        blobs["rogue-ca.pem"] = rogue_ca[1].public_bytes(pem)
        for name, data in sorted(blobs.items()):
            (OUT / "blobs" / name).write_bytes(data)
        for doc in vectors:
            (OUT / f"{doc['name']}.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {len(vectors)} vectors and {len(blobs)} blobs to {OUT}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
