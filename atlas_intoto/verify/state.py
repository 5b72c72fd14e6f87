"""The typed state that verification checks hand to each other (instead of dicts keyed by
``id()``): the verified layout, the links that passed check 2, and what the log, the time
sources and the evidence kinds established for each link."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atlas_intoto.bundle import Bundle, LinkEvidence
from atlas_intoto.evidence.kind import EvidenceResult
from atlas_intoto.layout import Layout
from atlas_intoto.link import EVIDENCE_KEY
from atlas_intoto.tlog.backend import VerifiedEntry
from atlas_intoto.verify.cache import VerifyCache
from atlas_intoto.verify.timesource import TimeSource, TrustedTime

if TYPE_CHECKING:
    from atlas_intoto.verify.identity import CertifiedSigner

#: Identifies one link of a bundle: (the step it is filed under, its position in the bundle).
LinkKey = tuple[str, int]


@dataclass(frozen=True, kw_only=True)
class VerifiedLink:
    """A link whose signature verified under the step's functionaries (fields as signed)."""

    key: LinkKey
    step: str
    evidence: LinkEvidence = field(repr=False)
    materials: Mapping[str, Mapping[str, str]]
    products: Mapping[str, Mapping[str, str]]
    command: tuple[str, ...]
    environment: Mapping[str, Any] = field(repr=False)
    signed_by: tuple[str, ...]
    #: the attestation's predicate type (v0.9 link, Link v0.3, SLSA Provenance v1)
    predicate_type: str = "https://in-toto.io/Link/v0.9"
    #: the identity functionaries whose certificates signed it (keyless signing); their
    #: validity at the trusted time is checked after check 6
    certified: tuple[CertifiedSigner, ...] = ()

    @property
    def atlas(self) -> Mapping[str, Any]:
        """Our evidence block ``environment["atlas-intoto"]`` ({} when absent)."""
        value = self.environment.get(EVIDENCE_KEY)
        return value if isinstance(value, Mapping) else {}

    @property
    def keyid(self) -> str:
        return self.signed_by[0]

    def binding(self) -> bytes:
        """B recomputed from the signed fields (never the link's own ``binding`` claim)."""
        from atlas_intoto.binding import step_binding_digest

        return step_binding_digest(
            step=self.step,
            materials=self.materials,
            products=self.products,
            command=self.command,
            keyid=self.keyid,
        )


@dataclass(kw_only=True)
class VerificationState:
    """What the checks established so far; each check fills the fields it owns."""

    bundle: Bundle
    layout: Layout
    cache: VerifyCache | None
    #: the verifier's clock (``--now``), for links without a trusted time and for expiry
    reference_time: int
    time_sources: Sequence[TimeSource]
    #: check 2: the links that verified, by declared step
    links: dict[str, list[VerifiedLink]] = field(default_factory=dict)
    #: check 6: the verified log entry of each logged link
    log: dict[LinkKey, VerifiedEntry] = field(default_factory=dict)
    #: check 6: the trusted time each logged link proves
    times: dict[LinkKey, TrustedTime] = field(default_factory=dict)
    #: check 4: what each link's evidence established
    evidence: dict[LinkKey, list[EvidenceResult]] = field(default_factory=dict)

    def at(self, link: VerifiedLink) -> int:
        """The time to judge ``link``'s time-dependent evidence at: its trusted time, else the
        verifier's clock."""
        trusted = self.times.get(link.key)
        return trusted.seconds if trusted is not None else self.reference_time

    def all_links(self) -> list[VerifiedLink]:
        """Every verified link, in layout step order."""
        return [link for spec in self.layout.steps for link in self.links.get(spec.name, ())]
