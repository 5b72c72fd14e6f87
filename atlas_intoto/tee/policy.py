"""TEE policy from the signed layout, and the trust roots quotes are verified against.

Layout format (schemas/layout.schema.json)::

    trust:
      tee: {roots: [intel, {pem: "-----BEGIN CERTIFICATE-----..."}], allow_tcb_status: [UpToDate]}
    steps:
      - name: train
        tee: {required: true, mrtd: ["<96 hex>"], rtmr: {"3": ["<96 hex>"]}, mrconfigid: [...]}

A step-level ``allow_tcb_status`` / ``allow_debug`` / ``allow_simulated`` overrides the
trust-level one (``allow_simulated: false`` refuses quotes of the simulated platform). An empty
measurement list (or an absent key) means "any value".

The bundled Intel SGX Root CA (``tee/data/intel_sgx_root_ca.der``) is Intel's DCAP root:
``CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US``, serial
``22650CD65A9D3489F383B49552BF501B392706AC``, valid 2018-05-21 to 2049-12-31, SHA-256 fingerprint
(of the DER) ``44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from atlas_intoto.errors import LayoutSchemaError

INTEL_ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
DEFAULT_ALLOWED_TCB = ("UpToDate",)
_HEX96 = re.compile(r"^[0-9a-fA-F]{96}$")


@dataclass(frozen=True, kw_only=True)
class TeePolicy:
    """What a step's quote must satisfy beyond verifying under a pinned root."""

    required: bool = False
    mrtd: tuple[str, ...] = ()
    rtmr: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    mrconfigid: tuple[str, ...] = ()
    allow_tcb_status: tuple[str, ...] = DEFAULT_ALLOWED_TCB
    #: dcap-qvl refuses debug TDs whatever this says, so debug quotes never verify; kept so a
    #: layout can state it and the verifier reports it.
    allow_debug: bool = False
    #: false: quotes that verify under a root other than Intel's (the simulated platform)
    #: fail, even when the layout pins that root
    allow_simulated: bool = True

    @classmethod
    def from_layout(
        cls, step_tee: Mapping[str, Any] | None, trust_tee: Mapping[str, Any] | None
    ) -> TeePolicy:
        """Combine a step's ``tee`` block with the layout's ``trust.tee`` block.

        ``required`` defaults to true when the step has a ``tee`` block (stating measurements
        implies a quote) and false otherwise.
        """
        step = dict(step_tee or {})
        trust = dict(trust_tee or {})
        rtmr_source = step.get("rtmr") or {}
        if not isinstance(rtmr_source, Mapping):
            raise LayoutSchemaError("steps[].tee.rtmr: must be a mapping of '0'..'3' to lists")
        rtmr: dict[int, tuple[str, ...]] = {}
        for index, values in rtmr_source.items():
            if str(index) not in {"0", "1", "2", "3"}:
                raise LayoutSchemaError(f"steps[].tee.rtmr: index {index!r} is not 0..3")
            rtmr[int(index)] = _measurements(f"steps[].tee.rtmr.{index}", values)
        allow = step.get("allow_tcb_status", trust.get("allow_tcb_status", DEFAULT_ALLOWED_TCB))
        if isinstance(allow, str) or not all(isinstance(s, str) and s for s in allow):
            raise LayoutSchemaError("tee.allow_tcb_status: must be a list of status names")
        return cls(
            required=bool(step.get("required", step_tee is not None)),
            mrtd=_measurements("steps[].tee.mrtd", step.get("mrtd")),
            rtmr=rtmr,
            mrconfigid=_measurements("steps[].tee.mrconfigid", step.get("mrconfigid")),
            allow_tcb_status=tuple(allow),
            allow_debug=bool(step.get("allow_debug", trust.get("allow_debug", False))),
            allow_simulated=bool(step.get("allow_simulated", trust.get("allow_simulated", True))),
        )


def _measurements(name: str, values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise LayoutSchemaError(f"{name}: must be a list of 96-hex-digit values")
    for value in values:
        if not isinstance(value, str) or not _HEX96.match(value):
            raise LayoutSchemaError(f"{name}: {value!r} is not 96 hex digits (48 bytes)")
    return tuple(value.lower() for value in values)


def intel_root_der() -> bytes:
    """The bundled Intel SGX Root CA (DER); SHA-256 ``44a0196b…b674d3`` (see module docs)."""
    return resources.files("atlas_intoto.tee").joinpath("data/intel_sgx_root_ca.der").read_bytes()


def roots_from_layout(trust_tee: Mapping[str, Any] | None) -> list[bytes]:
    """DER roots pinned by ``trust.tee.roots``: ``intel``, ``{pem: ...}`` or PEM text.

    Paths must already have been replaced by their PEM text when the layout was signed; a bare
    path here means the layout was not resolved and is rejected. Default: ``[intel]``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    entries = (trust_tee or {}).get("roots") or ["intel"]
    roots: list[bytes] = []
    for position, entry in enumerate(entries):
        if entry == "intel":
            roots.append(intel_root_der())
            continue
        pem = entry.get("pem") if isinstance(entry, Mapping) else entry
        if not isinstance(pem, str) or not pem.startswith("-----BEGIN"):
            raise LayoutSchemaError(
                f"trust.tee.roots[{position}]: expected 'intel' or pinned PEM text, got {entry!r}"
            )
        try:
            certificates = x509.load_pem_x509_certificates(pem.encode())
        except ValueError as exc:
            raise LayoutSchemaError(
                f"trust.tee.roots[{position}]: not a PEM certificate ({exc})"
            ) from exc
        roots.extend(c.public_bytes(serialization.Encoding.DER) for c in certificates)
    return roots
