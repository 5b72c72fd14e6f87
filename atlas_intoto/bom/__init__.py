"""AI bills of materials of a *verified* bundle: CycloneDX 1.6 ML-BOM and SPDX 3.0.1 (AI and
Dataset profiles), optionally as in-toto Statements (``atlas-intoto export cyclonedx|spdx``).

Pure: the builders take the verification report, the parsed bundle and (optionally) the bytes of
evaluation metrics files the consumer holds, and return documents. Only a report that verified
is exported (:func:`bom_export` refuses any other).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from atlas_intoto.errors import UsageError
from atlas_intoto.statement import STATEMENT_TYPE, descriptors

if TYPE_CHECKING:
    from atlas_intoto.bundle import Bundle
    from atlas_intoto.verify.report import VerificationReport

#: Export formats.
FORMATS = ("cyclonedx", "spdx")

__all__ = ["FORMATS", "bom_export", "bom_statement", "predicate_type"]


def predicate_type(fmt: str) -> str:
    """The in-toto predicate type of an export format."""
    from atlas_intoto.bom.cyclonedx import CYCLONEDX_PREDICATE
    from atlas_intoto.bom.spdx import SPDX_PREDICATE

    types = {"cyclonedx": CYCLONEDX_PREDICATE, "spdx": SPDX_PREDICATE}
    if fmt not in types:
        raise UsageError(f"export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return types[fmt]


def bom_export(
    fmt: str,
    report: VerificationReport,
    bundle: Bundle,
    *,
    source: str,
    version: str,
    files: Mapping[str, bytes] | None = None,
) -> dict[str, Any]:
    """The ``fmt`` document of a verified ``report`` of ``bundle`` (named ``source``).

    1. Refuse a report that did not verify (:class:`UsageError`: a caller bug, since the CLI
       and the service stop before).
    2. Derive the ML lineage (:func:`atlas_intoto.bom.lineage.ml_lineage`), checking ``files``
       against their signed digests.
    3. Build the document.
    """
    from atlas_intoto.bom.lineage import ml_lineage

    predicate_type(fmt)
    if not report.ok:
        raise UsageError(f"{source}: not exported: the bundle does not verify")
    lineage = ml_lineage(report, files=files)
    if fmt == "cyclonedx":
        from atlas_intoto.bom.cyclonedx import cyclonedx_bom

        return cyclonedx_bom(lineage, bundle, source=source, version=version)
    from atlas_intoto.bom.spdx import spdx_document

    return spdx_document(lineage, bundle, source=source, version=version)


def bom_statement(
    fmt: str, document: Mapping[str, Any], report: VerificationReport
) -> dict[str, Any]:
    """The in-toto Statement v1 of an export: the final models are the subject, the document
    the predicate."""
    from atlas_intoto.bom.lineage import ml_lineage

    models = ml_lineage(report).final_models()
    subject = {a.path: {"sha256": a.sha256} for a in models}
    if not subject:  # no model: the last step's products
        last = next((s for s in reversed(report.steps) if s.products), None)
        subject = {p: {"sha256": d} for p, d in (last.products.items() if last else ())}
    return {
        "_type": STATEMENT_TYPE,
        "subject": descriptors(subject),
        "predicateType": predicate_type(fmt),
        "predicate": dict(document),
    }
