"""Signing one C2PA sidecar manifest per product of a step (the recorder's side, does I/O).

Each product gets ``evidence_dir/c2pa/<product>.c2pa``: a manifest store whose active manifest
hard-binds the product's bytes (``c2pa.hash.data`` = the link's SHA-256), says what happened
(``c2pa.actions.v2``), ties itself to the step (``org.atlas-intoto.step``), describes the artifact
(``org.atlas-intoto.ml``) and carries the materials' own manifests as ingredients, so that any
C2PA reader can walk a model's lineage back through the pipeline.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from atlas_intoto import __version__
from atlas_intoto.c2pa.artifacts import (
    ML_ASSERTION,
    SOURCE_TYPE_BY_KIND,
    ArtifactDescription,
    describe,
    mime_type,
)
from atlas_intoto.c2pa.store import (
    DATA_HASH,
    PRIVATE_INGREDIENTS_ASSERTION,
    STEP_ASSERTION,
    DiscardingSink,
    ManifestStore,
    context,
    decode_hash,
    one_line,
    read_store,
)
from atlas_intoto.errors import C2paSigningError, InputError, KeyLoadError, UsageError
from atlas_intoto.fileio import atomic_write, read_bytes
from atlas_intoto.measure import usable_cores

ArtifactMap = Mapping[str, Mapping[str, str]]
#: Evaluation files larger than this are not parsed for metrics.
_MAX_METRICS_FILE = 4 << 20
_MAX_HEADER = (16 << 20) + 8
_GENERATOR = {"name": "atlas-intoto", "version": __version__}
#: Sidecars signed at once, at most (one thread each, up to the usable cores).
_MAX_LANES = 4


@dataclass(frozen=True, kw_only=True)
class _Material:
    path: str
    sidecar: bytes
    label: str
    results: Mapping[str, Any]
    kind: str | None


def sidecar_relpath(artifact: str) -> str:
    """``c2pa/<artifact>.c2pa``, refusing paths that would leave the evidence directory."""
    pure = PurePosixPath(artifact)
    if not artifact or pure.is_absolute() or ".." in pure.parts or "\\" in artifact:
        raise UsageError(f"{artifact!r}: artifact path must be relative, '/'-separated, no '..'")
    return f"c2pa/{pure.as_posix()}.c2pa"


# ---------------------------------------------------------------------------------------------
# The functionary's key as a c2pa signer
# ---------------------------------------------------------------------------------------------


def _signing_function(
    key_path: Path, chain_pem: bytes, chain_path: Path
) -> tuple[Any, Callable[[bytes], bytes]]:
    """``(C2paSigningAlg, sign(bytes) -> raw signature)`` for the key; the chain's leaf must
    hold its public key (c2pa-rs would otherwise sign a manifest nobody can validate)."""
    import c2pa
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from atlas_intoto.keys import load_private_key

    key = load_private_key(key_path)
    try:
        leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    except (ValueError, IndexError) as exc:
        raise KeyLoadError(f"{chain_path}: not a PEM certificate chain") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if leaf.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise KeyLoadError(f"{chain_path}: leaf certificate does not belong to {key_path}")

    if isinstance(key, ed25519.Ed25519PrivateKey):
        ed_key = key
        return c2pa.C2paSigningAlg.ED25519, ed_key.sign
    ec_key = key
    digest: hashes.HashAlgorithm
    if isinstance(ec_key.curve, ec.SECP384R1):
        alg, digest, size = c2pa.C2paSigningAlg.ES384, hashes.SHA384(), 48
    else:
        alg, digest, size = c2pa.C2paSigningAlg.ES256, hashes.SHA256(), 32

    def sign(data: bytes) -> bytes:
        # COSE wants the raw r ‖ s form, cryptography produces DER
        r, s = decode_dss_signature(ec_key.sign(data, ec.ECDSA(digest)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return alg, sign


def _token_signing_function(
    key_signer: Any, chain_pem: bytes, chain_path: Path
) -> tuple[Any, Callable[[bytes], bytes]]:
    """``(C2paSigningAlg, sign)`` for a securesystemslib signer whose key stays in its token;
    the chain's leaf must hold the token's public key."""
    import c2pa
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from atlas_intoto.keys import sslib_key

    try:
        leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    except (ValueError, IndexError) as exc:
        raise KeyLoadError(f"{chain_path}: not a PEM certificate chain") from exc
    public = key_signer.public_key
    if sslib_key(leaf.public_key()).keyid != public.keyid:  # type: ignore[arg-type]
        raise KeyLoadError(f"{chain_path}: leaf certificate does not belong to the token's key")
    scheme = str(public.scheme)
    algs = {
        "ecdsa-sha2-nistp256": (c2pa.C2paSigningAlg.ES256, 32),
        "ecdsa-sha2-nistp384": (c2pa.C2paSigningAlg.ES384, 48),
    }
    if scheme not in algs:
        raise KeyLoadError(f"{chain_path}: C2PA cannot sign with a {scheme} token key")
    alg, size = algs[scheme]

    def sign(data: bytes) -> bytes:
        # The token answers DER (securesystemslib's form); COSE wants the raw r ‖ s form.
        r, s = decode_dss_signature(bytes.fromhex(key_signer.sign(data).signature))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return alg, sign


# ---------------------------------------------------------------------------------------------
# Materials → ingredients
# ---------------------------------------------------------------------------------------------


def _bound_digest(store: ManifestStore) -> bytes | None:
    binding = store.hard_bindings(store.active_label).get(DATA_HASH)
    return decode_hash(binding.get("hash")) if isinstance(binding, dict) else None


def _kind_of(store: ManifestStore) -> str | None:
    for data in store.assertions(store.active_label, ML_ASSERTION):
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            return str(data["kind"])
    return None


def _load_materials(
    materials: ArtifactMap, *, base_path: Path, evidence_dir: Path, ctx: Any
) -> list[_Material]:
    """The materials that have a sidecar of an earlier step, validated against their files."""
    import c2pa

    found: list[_Material] = []
    for material in sorted(materials):
        sidecar_path = evidence_dir / sidecar_relpath(material)
        if not sidecar_path.is_file():
            continue
        sidecar = read_bytes(sidecar_path, what="C2PA sidecar")
        try:
            with open(base_path / material, "rb") as asset:
                store = read_store(sidecar, fmt=mime_type(material), asset=asset, ctx=ctx)
        except OSError as exc:
            raise InputError(
                f"{base_path / material}: cannot read material ({exc.strerror})"
            ) from exc
        except (c2pa.C2paError, ValueError) as exc:
            raise InputError(
                f"{sidecar_path}: not a C2PA manifest store ({one_line(exc)})"
            ) from exc
        expected = materials[material].get("sha256", "")
        if _bound_digest(store) != bytes.fromhex(expected):
            # a sidecar left from another run: it describes other bytes than this material
            raise InputError(
                f"{sidecar_path}: hard binding does not match material {material} "
                "(stale evidence directory?)"
            )
        found.append(
            _Material(
                path=material,
                sidecar=sidecar,
                label=store.active_label,
                results=store.results,
                kind=_kind_of(store),
            )
        )
    return found


# ---------------------------------------------------------------------------------------------
# One product
# ---------------------------------------------------------------------------------------------


def _describe_file(product: str, path: Path) -> ArtifactDescription:
    head = b""
    content: bytes | None = None
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if product.lower().endswith(".safetensors") and len(head) == 8:
                length = int.from_bytes(head, "little")
                if length <= _MAX_HEADER:
                    head += handle.read(length)
            if (
                product.lower().endswith(".json")
                and os.fstat(handle.fileno()).st_size <= _MAX_METRICS_FILE
            ):
                handle.seek(0)
                content = handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read product ({exc.strerror})") from exc
    return describe(product, head=head, content=content)


def manifest_definition(
    *,
    step: str,
    product: str,
    binding: bytes,
    quote_digest: str | None,
    description: ArtifactDescription,
    materials: list[_Material],
    private_ingredients: Sequence[str] = (),
) -> dict[str, Any]:
    """The c2pa-rs ManifestDefinition for one product (pure). ``private_ingredients``: the
    commitments of the step's private materials, named by an
    ``org.atlas-intoto.private-ingredients`` assertion (docs/confidentiality.md)."""
    parent = None
    if description.kind == "model":
        # fine-tuning: the first model among the materials is the one this model derives from
        parent = next((m.path for m in materials if m.kind == "model"), None)
    ingredients = []
    for index, material in enumerate(materials):
        ingredients.append(
            {
                "title": material.path,
                "format": mime_type(material.path),
                "relationship": "parentOf" if material.path == parent else "inputTo",
                "label": f"ingredient-{index}",
                "active_manifest": material.label,
                "validation_results": dict(material.results),
                "manifest_data": {
                    "format": "application/c2pa",
                    "identifier": f"ingredient-{index}",
                },
            }
        )
    agent = dict(_GENERATOR)
    if parent is not None:
        parent_label = f"ingredient-{[m.path for m in materials].index(parent)}"
        actions: list[dict[str, Any]] = [
            {
                "action": "c2pa.opened",
                "softwareAgent": agent,
                "parameters": {"ingredientIds": [parent_label]},
            },
            {
                "action": "c2pa.edited",
                "softwareAgent": agent,
                "digitalSourceType": SOURCE_TYPE_BY_KIND["model"],
                "description": f"step {step}: derived from {parent}",
            },
        ]
    else:
        actions = [
            {
                "action": "c2pa.created",
                "softwareAgent": agent,
                "digitalSourceType": SOURCE_TYPE_BY_KIND[description.kind],
                "description": f"step {step}",
            }
        ]
    return {
        "claim_generator_info": [dict(_GENERATOR)],
        "title": product,
        "format": mime_type(product),
        "ingredients": ingredients,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {
                "label": STEP_ASSERTION,
                "data": step_assertion(
                    step=step, product=product, binding=binding, quote_digest=quote_digest
                ),
            },
            {"label": ML_ASSERTION, "data": description.assertion(path=product)},
            *_private_assertion(private_ingredients),
        ],
    }


def _private_assertion(commitments: Sequence[str]) -> list[dict[str, Any]]:
    if not commitments:
        return []
    return [{"label": PRIVATE_INGREDIENTS_ASSERTION, "data": {"commitments": sorted(commitments)}}]


def step_assertion(
    *, step: str, product: str, binding: bytes, quote_digest: str | None
) -> dict[str, Any]:
    """The ``org.atlas-intoto.step`` assertion data: what the verifier compares to the link."""
    return {
        "step": step,
        "product": product,
        "binding": binding.hex(),
        "quote_digest": quote_digest,
    }


def _sign_one(
    *,
    definition: dict[str, Any],
    product: str,
    path: Path,
    materials: list[_Material],
    signer: Any,
    ctx: Any,
) -> bytes:
    import c2pa

    try:
        with c2pa.Builder(definition, context=ctx) as builder:
            builder.set_no_embed()
            for index, material in enumerate(materials):
                builder.add_resource(f"ingredient-{index}", io.BytesIO(material.sidecar))
            with open(path, "rb") as source:
                manifest = builder.sign(signer, mime_type(product), source, DiscardingSink())
    except OSError as exc:
        raise InputError(f"{path}: cannot read product ({exc.strerror})") from exc
    except c2pa.C2paError as exc:
        raise C2paSigningError(f"{product}: C2PA signing failed ({one_line(exc)})") from exc
    if not isinstance(manifest, bytes) or not manifest:
        raise C2paSigningError(f"{product}: C2PA signing produced no manifest")
    return bytes(manifest)


def sign_products(
    *,
    step: str,
    binding: bytes,
    quote_digest: str | None,
    products: ArtifactMap,
    materials: ArtifactMap,
    base_path: Path,
    evidence_dir: Path,
    key_signer: Any = None,
    key_path: Path,
    cert_chain_path: Path,
    private_ingredients: Sequence[str] = (),
) -> dict[str, dict[str, str]]:
    """Write a signed sidecar manifest for every product; return ``{product: {"sidecar": rel,
    "sha256": hex}}`` for the link environment.

    ``private_ingredients``: commitments of private materials (no sidecar, no path), named in
    each manifest's ``org.atlas-intoto.private-ingredients`` assertion.

    Materials with a sidecar at ``evidence_dir/c2pa/<material>.c2pa`` become ingredients (their
    validation results are recorded as c2pa-rs reports them under the root of the signer's own
    chain). A product that changed after it was measured is refused: its sidecar would bind
    other bytes than the link. On any error no sidecar of this call is left behind.
    ``key_signer`` (a securesystemslib signer: a PKCS#11 or KMS key) signs instead of the key
    file, through c2pa-python's callback signer, so the key never leaves its token.
    """
    if len(binding) != 32:
        raise UsageError("binding: must be the 32-byte step binding digest")
    relpaths = {product: sidecar_relpath(product) for product in products}
    chain_pem = read_bytes(cert_chain_path, what="certificate chain")
    if key_signer is not None:
        alg, sign = _token_signing_function(key_signer, chain_pem, cert_chain_path)
    else:
        alg, sign = _signing_function(key_path, chain_pem, cert_chain_path)
    root_pem = _last_certificate(chain_pem)
    with context([root_pem]) as ctx:
        inputs = _load_materials(materials, base_path=base_path, evidence_dir=evidence_dir, ctx=ctx)

    @contextmanager
    def lane() -> Iterator[tuple[Any, Any]]:
        import c2pa

        with context([root_pem]) as ctx:
            try:
                signer = c2pa.Signer.from_callback(sign, alg, chain_pem.decode("ascii"))
            except (c2pa.C2paError, UnicodeDecodeError) as exc:
                raise KeyLoadError(
                    f"{cert_chain_path}: rejected by c2pa ({one_line(exc)})"
                ) from exc
            with signer:
                yield signer, ctx

    written: list[Path] = []
    result: dict[str, dict[str, str]] = {}
    # A failed call removes its sidecars; a lane still signing then (a second Ctrl-C cut the
    # wait for the lanes short) writes none, or removes the one it was writing.
    listing = threading.Lock()
    removed = threading.Event()

    def sign_product(product: str, signer: Any, ctx: Any) -> None:
        path = base_path / product
        definition = manifest_definition(
            step=step,
            product=product,
            binding=binding,
            quote_digest=quote_digest,
            description=_describe_file(product, path),
            materials=inputs,
            private_ingredients=private_ingredients,
        )
        manifest = _sign_one(
            definition=definition,
            product=product,
            path=path,
            materials=inputs,
            signer=signer,
            ctx=ctx,
        )
        expected = products[product].get("sha256", "")
        _check_bound_digest(manifest, product=product, expected=expected, ctx=ctx)
        target = evidence_dir / relpaths[product]
        with listing:
            if removed.is_set():
                return
            written.append(target)
        atomic_write(target, manifest)
        if removed.is_set():
            target.unlink(missing_ok=True)
            return
        result[product] = {
            "sidecar": relpaths[product],
            "sha256": hashlib.sha256(manifest).hexdigest(),
        }

    # A token's session is not shared between threads; with a key file every core signs.
    lanes = 1 if key_signer is not None else min(len(products), usable_cores(), _MAX_LANES)
    try:
        _in_lanes(sorted(products), sign_product, lanes=lanes, open_lane=lane)
    except BaseException:
        with listing:
            removed.set()
            targets = list(written)
        for target in targets:
            target.unlink(missing_ok=True)
        raise
    return dict(sorted(result.items()))


def _in_lanes(
    items: Sequence[str],
    work: Callable[[str, Any, Any], None],
    *,
    lanes: int,
    open_lane: Callable[[], AbstractContextManager[tuple[Any, Any]]],
) -> None:
    """``work(item, signer, ctx)`` for every item, on ``lanes`` threads that each open their own
    signer and context (c2pa-python documents neither as thread-safe). c2pa-rs hashes the
    product and builds the manifest outside the GIL, so lanes sign in parallel. The first
    failure stops the other lanes after their current item and is raised."""
    todo = iter(items)
    lock = threading.Lock()
    failed = threading.Event()

    def take() -> str | None:
        with lock:
            return None if failed.is_set() else next(todo, None)

    def run_lane() -> None:
        try:
            with open_lane() as (signer, ctx):
                while (item := take()) is not None:
                    work(item, signer, ctx)
        except BaseException:
            failed.set()
            raise

    if lanes <= 1:
        run_lane()
        return
    pool = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="c2pa-sign")
    try:
        for future in [pool.submit(run_lane) for _ in range(lanes)]:
            future.result()
    except BaseException:
        # Ctrl-C here, or a lane's failure: no lane may write a sidecar after the caller has
        # removed those of the call.
        failed.set()
        raise
    finally:
        pool.shutdown(wait=True)


def _check_bound_digest(manifest: bytes, *, product: str, expected: str, ctx: Any) -> None:
    """c2pa-rs hashed the file itself: it must have seen the bytes the link records."""
    import c2pa

    try:
        store = read_store(manifest, fmt=mime_type(product), asset=None, ctx=ctx)
    except (c2pa.C2paError, ValueError) as exc:
        raise C2paSigningError(
            f"{product}: signed manifest does not parse ({one_line(exc)})"
        ) from exc
    bindings = store.hard_bindings(store.active_label)
    if set(bindings) != {DATA_HASH} or _bound_digest(store) != bytes.fromhex(expected):
        raise InputError(
            f"{product}: changed after it was measured (C2PA hard binding differs from the link digest)"
        )


def _last_certificate(chain_pem: bytes) -> bytes:
    marker = b"-----BEGIN CERTIFICATE-----"
    start = chain_pem.rfind(marker)
    return chain_pem[start:] if start >= 0 else chain_pem
