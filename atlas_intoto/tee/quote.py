"""Intel TDX DCAP quotes, versions 4 and 5: parse and build byte-exactly (pure, no I/O).

Layout (Intel TDX DCAP Quoting Library API, "Quote Format"; all integers little-endian)::

    header (48)         version u16 · attestation key type u16 · TEE type u32 · QE SVN u16 ·
                        PCE SVN u16 · QE vendor ID (16) · user data (20)
    v5 only             body type u16 (2 = TD report 1.0, 3 = TD report 1.5) · body size u32
    body                TD report 1.0 (584) or 1.5 (648 = 1.0 + TEE_TCB_SVN2 (16) + MRSERVICETD (48))
    signature data      length u32 · ECDSA signature (64) · attestation key (64) ·
                        certification data: type u16 · size u32 · data
    certification type 6 (QE report certification data):
                        QE report (384) · QE report signature (64) · QE auth data: size u16 · data ·
                        certification data: type u16 (5 = PCK chain, PEM) · size u32 · data

Quote generators pad the quote to their buffer size with zero bytes after the signature data
(the real sample quotes carry 70 such bytes); that padding is kept so that
``build_quote(parse_quote(q)) == q``. Anything else that does not fit raises
:class:`~atlas_intoto.errors.QuoteFormatError` naming the offset and field.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from atlas_intoto.errors import QuoteFormatError

HEADER_LEN = 48
TD_REPORT10_LEN = 584
TD_REPORT15_LEN = 648
ENCLAVE_REPORT_LEN = 384
SIGNATURE_LEN = 64
ATTESTATION_KEY_LEN = 64

TEE_TYPE_SGX = 0x00000000
TEE_TYPE_TDX = 0x00000081
ATTESTATION_KEY_ECDSA_P256 = 2
BODY_TYPE_TD10 = 2
BODY_TYPE_TD15 = 3
CERT_TYPE_PCK_CHAIN = 5
CERT_TYPE_QE_REPORT = 6
#: Intel's QE vendor ID (939A7233-F79C-4CA9-940A-0DB3957F0607).
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")

#: Upper bound on a quote; real ones are about 5 KB (the PCK chain dominates).
MAX_QUOTE_LEN = 64 * 1024

#: TD report 1.0 fields in order: (name, size).
_TD10_FIELDS: tuple[tuple[str, int], ...] = (
    ("tee_tcb_svn", 16),
    ("mr_seam", 48),
    ("mr_signer_seam", 48),
    ("seam_attributes", 8),
    ("td_attributes", 8),
    ("xfam", 8),
    ("mr_td", 48),
    ("mr_config_id", 48),
    ("mr_owner", 48),
    ("mr_owner_config", 48),
    ("rtmr0", 48),
    ("rtmr1", 48),
    ("rtmr2", 48),
    ("rtmr3", 48),
    ("report_data", 64),
)
_TD15_EXTRA: tuple[tuple[str, int], ...] = (("tee_tcb_svn2", 16), ("mr_service_td", 48))


@dataclass(frozen=True, kw_only=True)
class QuoteHeader:
    """The 48-byte quote header (version, attestation key type, TEE type, vendor)."""

    version: int
    attestation_key_type: int
    tee_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes

    def encode(self) -> bytes:
        _check_len("header.qe_vendor_id", self.qe_vendor_id, 16)
        _check_len("header.user_data", self.user_data, 20)
        return (
            struct.pack(
                "<HHIHH",
                self.version,
                self.attestation_key_type,
                self.tee_type,
                self.qe_svn,
                self.pce_svn,
            )
            + self.qe_vendor_id
            + self.user_data
        )


@dataclass(frozen=True, kw_only=True)
class TdReport:
    """A TD report (TDREPORT body of the quote). ``tee_tcb_svn2``/``mr_service_td`` only in 1.5."""

    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    td_attributes: bytes
    xfam: bytes
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmr0: bytes
    rtmr1: bytes
    rtmr2: bytes
    rtmr3: bytes
    report_data: bytes
    tee_tcb_svn2: bytes | None = None
    mr_service_td: bytes | None = None

    @property
    def version(self) -> str:
        return "1.0" if self.tee_tcb_svn2 is None else "1.5"

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)

    @property
    def debug(self) -> bool:
        """TDATTRIBUTES bit 0 (TUD.DEBUG): the TD runs in debug mode, its memory is inspectable."""
        return bool(self.td_attributes[0] & 0x01)

    def encode(self) -> bytes:
        fields = _TD10_FIELDS if self.tee_tcb_svn2 is None else _TD10_FIELDS + _TD15_EXTRA
        if self.tee_tcb_svn2 is None and self.mr_service_td is not None:
            raise QuoteFormatError("build: td_report.mr_service_td set without tee_tcb_svn2")
        out = bytearray()
        for name, size in fields:
            value = getattr(self, name)
            _check_len(f"td_report.{name}", value, size)
            out += value
        return bytes(out)


@dataclass(frozen=True, kw_only=True)
class EnclaveReport:
    """An SGX enclave report: here the Quoting Enclave's report inside the signature data."""

    cpu_svn: bytes
    misc_select: int
    reserved1: bytes
    attributes: bytes
    mr_enclave: bytes
    reserved2: bytes
    mr_signer: bytes
    reserved3: bytes
    isv_prod_id: int
    isv_svn: int
    reserved4: bytes
    report_data: bytes

    def encode(self) -> bytes:
        for name, size in (
            ("cpu_svn", 16),
            ("reserved1", 28),
            ("attributes", 16),
            ("mr_enclave", 32),
            ("reserved2", 32),
            ("mr_signer", 32),
            ("reserved3", 96),
            ("reserved4", 60),
            ("report_data", 64),
        ):
            _check_len(f"qe_report.{name}", getattr(self, name), size)
        return (
            self.cpu_svn
            + struct.pack("<I", self.misc_select)
            + self.reserved1
            + self.attributes
            + self.mr_enclave
            + self.reserved2
            + self.mr_signer
            + self.reserved3
            + struct.pack("<HH", self.isv_prod_id, self.isv_svn)
            + self.reserved4
            + self.report_data
        )


@dataclass(frozen=True, kw_only=True)
class QeReportCertificationData:
    """Certification data type 6: the QE report, its PCK signature, QE auth data, and nested
    certification data (type 5: the PEM PCK certificate chain)."""

    qe_report: EnclaveReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    certification: CertificationData

    def encode(self) -> bytes:
        _check_len("qe_report_signature", self.qe_report_signature, SIGNATURE_LEN)
        if len(self.qe_auth_data) > 0xFFFF:
            raise QuoteFormatError("build: qe_auth_data longer than 65535 bytes")
        return (
            self.qe_report.encode()
            + self.qe_report_signature
            + struct.pack("<H", len(self.qe_auth_data))
            + self.qe_auth_data
            + self.certification.encode()
        )


@dataclass(frozen=True, kw_only=True)
class CertificationData:
    """Type and data; type 6 is parsed into ``qe_report_data`` (then ``data`` is its encoding)."""

    cert_type: int
    data: bytes = b""
    qe_report_data: QeReportCertificationData | None = None

    def body(self) -> bytes:
        return self.qe_report_data.encode() if self.qe_report_data is not None else self.data

    def encode(self) -> bytes:
        body = self.body()
        return struct.pack("<HI", self.cert_type, len(body)) + body


@dataclass(frozen=True, kw_only=True)
class QuoteSignatureData:
    """The ECDSA quote signature, attestation key and certification data."""

    signature: bytes
    attestation_key: bytes
    certification: CertificationData

    def encode(self) -> bytes:
        _check_len("signature_data.signature", self.signature, SIGNATURE_LEN)
        _check_len("signature_data.attestation_key", self.attestation_key, ATTESTATION_KEY_LEN)
        return self.signature + self.attestation_key + self.certification.encode()


@dataclass(frozen=True, kw_only=True)
class Quote:
    """A parsed TDX quote (v4 or v5): header, TD report, signature data."""

    header: QuoteHeader
    report: TdReport
    signature_data: QuoteSignatureData
    #: v5 body type (2 or 3); None for v4, whose body is always a TD report 1.0.
    body_type: int | None = None
    #: Zero bytes after the signature data (buffer padding of the quote generator).
    padding: int = field(default=0)

    def signed_bytes(self) -> bytes:
        """The bytes the attestation key signs: header and body (with the v5 body descriptor)."""
        body = self.report.encode()
        if self.header.version >= 5:
            body_type = self.body_type if self.body_type is not None else _body_type(self.report)
            body = struct.pack("<HI", body_type, len(body)) + body
        return self.header.encode() + body

    @property
    def qe_certification(self) -> QeReportCertificationData | None:
        return self.signature_data.certification.qe_report_data

    @property
    def pck_chain_pem(self) -> bytes | None:
        """The PEM PCK certificate chain (leaf first), if the quote carries one."""
        cert = self.signature_data.certification
        inner = cert.qe_report_data.certification if cert.qe_report_data else cert
        if inner.cert_type != CERT_TYPE_PCK_CHAIN:
            return None
        return inner.data

    def with_signature(self, signature: bytes) -> Quote:
        return replace(self, signature_data=replace(self.signature_data, signature=signature))


def build_quote(quote: Quote) -> bytes:
    """Encode ``quote`` exactly as a quote generator lays it out."""
    if quote.header.version == 4 and quote.report.version != "1.0":
        raise QuoteFormatError("build: a v4 quote carries a TD report 1.0")
    if quote.header.version == 5 and quote.body_type not in (None, _body_type(quote.report)):
        raise QuoteFormatError(
            f"build: body_type {quote.body_type} does not match TD report {quote.report.version}"
        )
    signature_data = quote.signature_data.encode()
    return (
        quote.signed_bytes()
        + struct.pack("<I", len(signature_data))
        + signature_data
        + bytes(quote.padding)
    )


def parse_quote(data: bytes) -> Quote:
    """Parse a TDX quote v4 or v5; raise QuoteFormatError naming the offset and field."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise QuoteFormatError("quote: expected bytes")
    data = bytes(data)
    if len(data) > MAX_QUOTE_LEN:
        raise QuoteFormatError(
            f"quote: oversized ({len(data)} bytes, at most {MAX_QUOTE_LEN} expected)"
        )
    r = _Reader(data, 0, len(data))
    version = r.u16("header.version")
    if version not in (4, 5):
        raise QuoteFormatError(
            f"quote: offset 0 field header.version: unsupported version {version} (4 or 5 expected)"
        )
    header = QuoteHeader(
        version=version,
        attestation_key_type=r.u16("header.attestation_key_type"),
        tee_type=r.u32("header.tee_type"),
        qe_svn=r.u16("header.qe_svn"),
        pce_svn=r.u16("header.pce_svn"),
        qe_vendor_id=r.take(16, "header.qe_vendor_id"),
        user_data=r.take(20, "header.user_data"),
    )
    if header.attestation_key_type != ATTESTATION_KEY_ECDSA_P256:
        raise QuoteFormatError(
            f"quote: offset 2 field header.attestation_key_type: unsupported type "
            f"{header.attestation_key_type} (2 = ECDSA P-256 expected)"
        )
    body_type: int | None = None
    if version == 5:
        at = r.pos
        body_type = r.u16("body.type")
        size_at = r.pos
        size = r.u32("body.size")
        expected = {BODY_TYPE_TD10: TD_REPORT10_LEN, BODY_TYPE_TD15: TD_REPORT15_LEN}.get(body_type)
        if expected is None:
            raise QuoteFormatError(
                f"quote: offset {at} field body.type: unsupported body type {body_type} "
                "(2 = TD report 1.0, 3 = TD report 1.5 expected)"
            )
        if size != expected:
            raise QuoteFormatError(
                f"quote: offset {size_at} field body.size: {size} does not match body type "
                f"{body_type} ({expected} expected)"
            )
        report = _parse_td_report(r, td15=body_type == BODY_TYPE_TD15)
    else:
        report = _parse_td_report(r, td15=False)
    length_at = r.pos
    sig_len = r.u32("signature_data.length")
    if sig_len > r.remaining():
        raise QuoteFormatError(
            f"quote: offset {length_at} field signature_data.length: {sig_len} bytes declared, "
            f"{r.remaining()} present (truncated)"
        )
    sig = r.sub(sig_len)
    signature_data = QuoteSignatureData(
        signature=sig.take(SIGNATURE_LEN, "signature_data.signature"),
        attestation_key=sig.take(ATTESTATION_KEY_LEN, "signature_data.attestation_key"),
        certification=_parse_certification(sig, "signature_data.certification"),
    )
    sig.expect_end("signature_data")
    padding = data[r.pos :]
    if padding.strip(b"\x00"):
        first = r.pos + next(i for i, b in enumerate(padding) if b)
        raise QuoteFormatError(
            f"quote: offset {first}: unexpected data after the signature data (oversized quote)"
        )
    return Quote(
        header=header,
        report=report,
        signature_data=signature_data,
        body_type=body_type,
        padding=len(padding),
    )


def parse_enclave_report(data: bytes, *, offset: int = 0, name: str = "qe_report") -> EnclaveReport:
    r = _Reader(data, 0, len(data), base=offset)
    report = _parse_enclave_report(r, name)
    r.expect_end(name)
    return report


# -- internals ------------------------------------------------------------------------------------


def _body_type(report: TdReport) -> int:
    return BODY_TYPE_TD10 if report.version == "1.0" else BODY_TYPE_TD15


def _check_len(name: str, value: bytes, size: int) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        got = len(value) if isinstance(value, bytes) else type(value).__name__
        raise QuoteFormatError(f"build: field {name} must be {size} bytes, got {got}")


class _Reader:
    """A bounded cursor; errors carry absolute offsets (``base`` + position)."""

    def __init__(self, data: bytes, start: int, end: int, *, base: int = 0) -> None:
        self.data = data
        self.pos = start
        self.end = end
        self.base = base

    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, n: int, name: str) -> bytes:
        if n > self.remaining():
            raise QuoteFormatError(
                f"quote: offset {self.base + self.pos} field {name}: needs {n} bytes, "
                f"{self.remaining()} left (truncated)"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self, name: str) -> int:
        value: int = struct.unpack("<H", self.take(2, name))[0]
        return value

    def u32(self, name: str) -> int:
        value: int = struct.unpack("<I", self.take(4, name))[0]
        return value

    def sub(self, n: int) -> _Reader:
        """A reader over the next ``n`` bytes (caller checked they exist); advances past them."""
        child = _Reader(self.data, self.pos, self.pos + n, base=self.base)
        self.pos += n
        return child

    def expect_end(self, name: str) -> None:
        if self.pos != self.end:
            raise QuoteFormatError(
                f"quote: offset {self.base + self.pos} field {name}: "
                f"{self.end - self.pos} unexpected bytes at the end"
            )


def _parse_td_report(r: _Reader, *, td15: bool) -> TdReport:
    fields = _TD10_FIELDS + (_TD15_EXTRA if td15 else ())
    values = {name: r.take(size, f"td_report.{name}") for name, size in fields}
    return TdReport(**values)


def _parse_enclave_report(r: _Reader, name: str) -> EnclaveReport:
    return EnclaveReport(
        cpu_svn=r.take(16, f"{name}.cpu_svn"),
        misc_select=r.u32(f"{name}.misc_select"),
        reserved1=r.take(28, f"{name}.reserved1"),
        attributes=r.take(16, f"{name}.attributes"),
        mr_enclave=r.take(32, f"{name}.mr_enclave"),
        reserved2=r.take(32, f"{name}.reserved2"),
        mr_signer=r.take(32, f"{name}.mr_signer"),
        reserved3=r.take(96, f"{name}.reserved3"),
        isv_prod_id=r.u16(f"{name}.isv_prod_id"),
        isv_svn=r.u16(f"{name}.isv_svn"),
        reserved4=r.take(60, f"{name}.reserved4"),
        report_data=r.take(64, f"{name}.report_data"),
    )


def _parse_certification(r: _Reader, name: str, *, depth: int = 0) -> CertificationData:
    cert_type = r.u16(f"{name}.type")
    size_at = r.pos
    size = r.u32(f"{name}.size")
    if size > r.remaining():
        raise QuoteFormatError(
            f"quote: offset {r.base + size_at} field {name}.size: {size} bytes declared, "
            f"{r.remaining()} present (truncated)"
        )
    body = r.sub(size)
    if cert_type != CERT_TYPE_QE_REPORT:
        return CertificationData(cert_type=cert_type, data=body.take(size, f"{name}.data"))
    if depth > 0:
        raise QuoteFormatError(
            f"quote: offset {r.base + size_at - 2} field {name}.type: "
            "QE report certification data nested in itself"
        )
    qe_report = _parse_enclave_report(body, f"{name}.qe_report")
    qe_sig = body.take(SIGNATURE_LEN, f"{name}.qe_report_signature")
    auth_len = body.u16(f"{name}.qe_auth_data.size")
    auth = body.take(auth_len, f"{name}.qe_auth_data")
    inner = _parse_certification(body, f"{name}.certification", depth=depth + 1)
    body.expect_end(name)
    return CertificationData(
        cert_type=cert_type,
        qe_report_data=QeReportCertificationData(
            qe_report=qe_report,
            qe_report_signature=qe_sig,
            qe_auth_data=auth,
            certification=inner,
        ),
    )
