"""Evidence errors (exit 1): one subclass per verification check."""

from __future__ import annotations

from atlas_intoto.errors.base import EvidenceError, FormatError, SignatureError


class DsseFormatError(FormatError):
    """A DSSE envelope is malformed (not JSON, missing fields, bad base64, duplicate key ids)."""

    check = "dsse.format"


class DsseSignatureError(SignatureError):
    """Fewer distinct keys than required signed a DSSE envelope."""

    check = "dsse.signature"


# --- check 1: layout ---------------------------------------------------------------------------


class LayoutError(EvidenceError):
    """Check 1: the signed layout cannot be trusted."""

    check = "layout"


class LayoutSchemaError(LayoutError):
    """The layout document violates schemas/layout.schema.json."""

    check = "layout.schema"


class LayoutSignatureError(LayoutError):
    """The layout is not signed by the expected owner key(s)."""

    check = "layout.signature"


class LayoutExpiredError(LayoutError):
    """The layout's ``expires`` is not after the reference time."""

    check = "layout.expiry"


class LayoutUncheckableError(LayoutError):
    """The layout states a requirement no bundle could be checked against (TEE required
    without a pinned TEE root, C2PA required without anchors): refused when it is checked or
    signed, not discovered by every consumer."""

    check = "layout.uncheckable"


# --- check 2: links -----------------------------------------------------------------------------


class LinkError(EvidenceError):
    """Check 2: a step's links (signatures, thresholds, commands, completeness, order)."""

    check = "links"


class LinkSignatureError(LinkError):
    """A link is not signed by an authorised functionary of its step."""

    check = "links.signature"


class ThresholdError(LinkError):
    """Fewer distinct authorised functionaries signed a step than its threshold."""

    check = "links.threshold"


class CommandMismatchError(LinkError):
    """A link's signed command differs from the step's ``expected_command``."""

    check = "links.command"


class PredicateTypeError(LinkError):
    """A step's attestation is not of the predicate type its layout step requires."""

    check = "links.predicate_type"


class MissingStepError(LinkError):
    """A step of the layout has no link in the bundle."""

    check = "links.missing"


class UnexpectedStepError(LinkError):
    """The bundle carries evidence for a step the layout does not declare."""

    check = "links.unexpected"


class ReplayError(LinkError):
    """A link does not belong to this run (materials chain broken, stale evidence)."""

    check = "links.replay"


# --- check 3: artifact rules --------------------------------------------------------------------


class ArtifactRuleError(EvidenceError):
    """Check 3: an artifact rule (in-toto's rule engine) is violated."""

    check = "rules"


class ArtifactDigestError(ArtifactRuleError):
    """Check 3: a link lacks a digest algorithm the layout requires (``digests``), or records
    a malformed digest."""


# --- check 4: TEE -------------------------------------------------------------------------------


class TeeError(EvidenceError):
    """Check 4: attestation evidence (TEE quotes and other evidence kinds)."""

    check = "tee"


class QuoteFormatError(TeeError, FormatError):
    """A TDX quote is truncated, oversized or garbage; the message names offset and field."""

    check = "tee.format"


class TeeEvidenceFormatError(TeeError, FormatError):
    """The link's TEE evidence entry is malformed (type, base64 quote, 32-byte hex nonce)."""

    check = "tee.evidence"


class CollateralMismatchError(TeeError):
    """The collateral file differs from the digest recorded in the signed link."""

    check = "tee.collateral_digest"


class NotTdxQuoteError(TeeError):
    """The quote parses but is not a TDX quote (TEE type 0x81)."""

    check = "tee.type"


class QuoteVerificationError(TeeError):
    """dcap-qvl rejected the quote: signature, chain or collateral does not verify."""

    check = "tee.quote"


class CollateralExpiredError(QuoteVerificationError):
    """The quote's collateral is not valid at the trusted time."""

    check = "tee.collateral"


class TeeRootError(QuoteVerificationError):
    """The quote's PCK chain does not lead to a pinned root."""

    check = "tee.root"


class TcbStatusError(TeeError):
    """The platform's TCB status is not one the layout allows."""

    check = "tee.tcb"


class DebugTdError(TeeError):
    """The quote comes from a debug TD."""

    check = "tee.debug"


class MeasurementPolicyError(TeeError):
    """MRTD, RTMR0-3 or MRCONFIGID is outside the layout's policy."""

    check = "tee.measurement"


class ReportDataMismatchError(TeeError):
    """REPORTDATA does not equal the binding recomputed from the signed link."""

    check = "tee.binding"


class MissingTeeEvidenceError(TeeError):
    """Evidence the layout requires (or a blob an entry commits to) is absent."""

    check = "tee.missing"


class UnknownEvidenceKindError(TeeError):
    """A link carries evidence of a kind no registered evidence kind can verify."""

    check = "tee.kind"


class EvidenceBlobMismatchError(TeeError):
    """A blob in the bundle differs from the digest the signed link commits to."""

    check = "tee.blob_digest"


# --- check 5: C2PA ------------------------------------------------------------------------------


class C2paError(EvidenceError):
    """Check 5: C2PA manifests of the products."""

    check = "c2pa"


class C2paManifestError(C2paError, FormatError):
    """A sidecar does not parse as a C2PA manifest store."""

    check = "c2pa.format"


class C2paTrustError(C2paError):
    """The manifest's validation state is not Trusted under the pinned anchors."""

    check = "c2pa.trust"


class C2paBindingError(C2paError):
    """The hard binding does not equal the product's digest."""

    check = "c2pa.binding"


class C2paStepAssertionError(C2paError):
    """The org.atlas-intoto.step assertion does not match the link."""

    check = "c2pa.step"


class C2paIngredientError(C2paError):
    """The ingredients do not match the materials' manifests."""

    check = "c2pa.ingredients"


class MissingSidecarError(C2paError):
    """A product the layout requires a manifest for has none."""

    check = "c2pa.missing"


# --- check 6: transparency log ------------------------------------------------------------------


class TransparencyError(EvidenceError):
    """Check 6: transparency-log entries, proofs, checkpoints and times."""

    check = "tlog"


class LogEntryMismatchError(TransparencyError):
    """The log entry body does not describe this envelope."""

    check = "tlog.body"


class InclusionProofError(TransparencyError):
    """The inclusion proof does not reach the checkpoint's root."""

    check = "tlog.inclusion"


class ConsistencyProofError(TransparencyError):
    """The log's current tree does not extend the saved checkpoint (split view, rollback)."""

    check = "tlog.consistency"


class CheckpointError(TransparencyError):
    """The checkpoint is malformed, not signed by a pinned log key, or disagrees with the proof."""

    check = "tlog.checkpoint"


class SetError(TransparencyError):
    """The signed entry timestamp does not verify."""

    check = "tlog.set"


class MissingLogEntryError(TransparencyError):
    """The layout requires a log entry and the link has none."""

    check = "tlog.missing"


class UnknownLogBackendError(TransparencyError):
    """A saved log entry belongs to a log backend this verifier does not know."""

    check = "tlog.backend"


class TrustedTimeError(TransparencyError):
    """The proof of an entry's time (a signed timestamp) does not verify."""

    check = "tlog.time"


class WitnessCosignatureError(CheckpointError):
    """A checkpoint lacks the witness cosignatures the layout requires, or one is forged."""

    check = "tlog.witness"


class TimestampError(TrustedTimeError):
    """An RFC 3161 timestamp is malformed, not over this signature, or not from a pinned TSA."""

    check = "tlog.timestamp"


class EntryFormatError(TransparencyError, FormatError):
    """A proposed Rekor entry is malformed or of an unsupported kind/version (HTTP 400)."""

    check = "tlog.entry"


class LogEntryFormatError(TransparencyError, FormatError):
    """A saved log entry (or its body) does not have its log's shape."""

    check = "tlog.format"


class EntrySignatureError(EntryFormatError, SignatureError):
    """A proposed Rekor entry's signature does not verify with its key (HTTP 400)."""

    check = "tlog.entry.signature"


# --- check 7: final artifacts -------------------------------------------------------------------


class FinalArtifactError(EvidenceError):
    """The files the consumer holds differ from the last step's products."""

    check = "artifacts"


class PolicyRequirementError(EvidenceError):
    """The bundle verified but does not meet the service policy's requirements (allowed
    layouts, TEE/C2PA/log evidence on every step)."""

    check = "policy"


class ModelDirectoryError(FinalArtifactError):
    """The model directory differs from an OMS model signature: extra, missing or changed
    files, as model-signing reports them."""

    check = "artifacts.model_dir"


# --- exports (atlas_intoto.bom) ------------------------------------------------------------------


class ExportArtifactError(EvidenceError):
    """A file handed to an export (an evaluation's metrics) differs from the digest its step
    signed, or is not what its step produced."""

    check = "export.artifact"
