"""A simulated TDX platform with a complete DCAP trust chain that dcap-qvl verifies.

Build machines have no TDX, so this module produces quotes that are real in format and chain
structure (DESIGN.md §3.3), rooted in a generated CA instead of Intel's:

    Root CA ──► PCK Platform CA ──► PCK certificate (SGX extension 1.2.840.113741.1.13.1)
       │                                  └─ signs the QE report, whose REPORTDATA binds
       │                                     SHA-256(attestation key ‖ QE auth data)
       ├──► TCB signing certificate ──► signs TCB info and QE identity JSON
       └─ root CA CRL;  PCK Platform CA ─ PCK CRL
    attestation key ──► signs header ‖ TD report (the quote)

The collateral is dcap-qvl's ``QuoteCollateralV3`` JSON. Field values that dcap-qvl appraises
(QE identity, TDX module identity, TCB component SVNs) mirror Intel's production collateral so the
simulated platform evaluates exactly like a real, up-to-date one.

Key material lives in ``ATLAS_INTOTO_HOME/tee-sim/`` (see :func:`ensure_platform`); everything
else here is deterministic given keys, measurements and a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from atlas_intoto.errors import InputError
from atlas_intoto.tee.quote import (
    ATTESTATION_KEY_ECDSA_P256,
    CERT_TYPE_PCK_CHAIN,
    CERT_TYPE_QE_REPORT,
    INTEL_QE_VENDOR_ID,
    TEE_TYPE_TDX,
    CertificationData,
    EnclaveReport,
    QeReportCertificationData,
    Quote,
    QuoteHeader,
    QuoteSignatureData,
    TdReport,
    build_quote,
)

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"
#: How long generated collateral (TCB info, QE identity, CRLs) stays valid, like Intel's PCS.
COLLATERAL_VALIDITY = 30 * 86400
#: Cached collateral older than this is regenerated, so a recorded snapshot has >= 29 days left.
COLLATERAL_REFRESH = 86400
#: Issue dates are backdated a little so that a verifier with a slightly slow clock accepts them.
CLOCK_SKEW = 300

# Values dcap-qvl appraises, as in Intel's production TDX collateral and a current platform.
_CPU_SVN = bytes([3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0])
_PCE_SVN = 11
_PCE_ID = b"\x00\x00"
_TEE_TCB_SVN = bytes([6, 1, 3]) + bytes(13)
_TD_ATTRIBUTES = bytes.fromhex("0000001000000000")  # SEPT_VE_DISABLE (bit 28), not debug
_XFAM = bytes.fromhex("e702060000000000")
_QE_MR_SIGNER = bytes.fromhex("dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5")
_QE_MR_ENCLAVE = bytes.fromhex("e5a3a7b5d830c2953b98534c6c59a3a34fdc34e933f7f5898f0a85cf08846bca")
_QE_CPU_SVN = bytes.fromhex("0303191b04ff00060000000000000000")
_QE_ATTRIBUTES = bytes.fromhex("1500000000000000e700000000000000")
_QE_PROD_ID = 2
_QE_SVN = 6
_QE_AUTH_DATA = bytes(range(32))
_SGX_COMPONENTS = [2, 2, 2, 2, 3, 1, 0, 5] + [0] * 8
_TDX_COMPONENTS = [5, 0, 2] + [0] * 13
#: Advisory reported when collateral is generated with a non-UpToDate TCB status (tests).
SIM_ADVISORY = "ATLAS-SIM-SA-0001"

_FILES = ("root", "pck-ca", "pck", "tcb-signing")


@dataclass(frozen=True, kw_only=True)
class SimulatedPlatform:
    """Keys, certificates and fixed TD measurements of one simulated TDX platform."""

    platform_id: str
    root_key: ec.EllipticCurvePrivateKey
    pck_ca_key: ec.EllipticCurvePrivateKey
    pck_key: ec.EllipticCurvePrivateKey
    tcb_key: ec.EllipticCurvePrivateKey
    attestation_key: ec.EllipticCurvePrivateKey
    root_cert: x509.Certificate
    pck_ca_cert: x509.Certificate
    pck_cert: x509.Certificate
    tcb_cert: x509.Certificate
    fmspc: bytes
    ppid: bytes
    mr_seam: bytes
    mr_td: bytes
    rtmr: tuple[bytes, bytes, bytes, bytes]
    user_data: bytes

    @property
    def root_der(self) -> bytes:
        return self.root_cert.public_bytes(serialization.Encoding.DER)

    @property
    def root_pem(self) -> bytes:
        return self.root_cert.public_bytes(serialization.Encoding.PEM)

    def make_quote(
        self,
        report_data: bytes,
        *,
        td_attributes: bytes = _TD_ATTRIBUTES,
        mr_td: bytes | None = None,
        mr_config_id: bytes = bytes(48),
    ) -> bytes:
        """A v4 TDX quote over a TD report 1.0 carrying ``report_data`` (64 bytes)."""
        if len(report_data) != 64:
            raise ValueError("REPORTDATA must be 64 bytes")
        header = QuoteHeader(
            version=4,
            attestation_key_type=ATTESTATION_KEY_ECDSA_P256,
            tee_type=TEE_TYPE_TDX,
            qe_svn=0,
            pce_svn=0,
            qe_vendor_id=INTEL_QE_VENDOR_ID,
            user_data=self.user_data,
        )
        report = TdReport(
            tee_tcb_svn=_TEE_TCB_SVN,
            mr_seam=self.mr_seam,
            mr_signer_seam=bytes(48),
            seam_attributes=bytes(8),
            td_attributes=td_attributes,
            xfam=_XFAM,
            mr_td=mr_td if mr_td is not None else self.mr_td,
            mr_config_id=mr_config_id,
            mr_owner=bytes(48),
            mr_owner_config=bytes(48),
            rtmr0=self.rtmr[0],
            rtmr1=self.rtmr[1],
            rtmr2=self.rtmr[2],
            rtmr3=self.rtmr[3],
            report_data=report_data,
        )
        attestation_pub = self.attestation_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )[1:]
        qe_report = EnclaveReport(
            cpu_svn=_QE_CPU_SVN,
            misc_select=0,
            reserved1=bytes(28),
            attributes=_QE_ATTRIBUTES,
            mr_enclave=_QE_MR_ENCLAVE,
            reserved2=bytes(32),
            mr_signer=_QE_MR_SIGNER,
            reserved3=bytes(96),
            isv_prod_id=_QE_PROD_ID,
            isv_svn=_QE_SVN,
            reserved4=bytes(60),
            report_data=hashlib.sha256(attestation_pub + _QE_AUTH_DATA).digest() + bytes(32),
        )
        pck_chain = b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (self.pck_cert, self.pck_ca_cert, self.root_cert)
        )
        quote = Quote(
            header=header,
            report=report,
            signature_data=QuoteSignatureData(
                signature=bytes(64),
                attestation_key=attestation_pub,
                certification=CertificationData(
                    cert_type=CERT_TYPE_QE_REPORT,
                    qe_report_data=QeReportCertificationData(
                        qe_report=qe_report,
                        qe_report_signature=_sign_raw(self.pck_key, qe_report.encode()),
                        qe_auth_data=_QE_AUTH_DATA,
                        certification=CertificationData(
                            cert_type=CERT_TYPE_PCK_CHAIN, data=pck_chain + b"\x00"
                        ),
                    ),
                ),
            ),
        )
        signature = _sign_raw(self.attestation_key, quote.signed_bytes())
        return build_quote(quote.with_signature(signature))

    def make_collateral(
        self, *, issued_at: int, validity: int = COLLATERAL_VALIDITY, tcb_status: str = "UpToDate"
    ) -> bytes:
        """QuoteCollateralV3 JSON valid from ``issued_at`` for ``validity`` seconds."""
        issue = _utc(issued_at)
        next_update = _utc(issued_at + validity)
        tcb_info = _canonical(self._tcb_info(issue, next_update, tcb_status))
        qe_identity = _canonical(_qe_identity(issue, next_update))
        root_crl = _crl(self.root_key, self.root_cert, issue, next_update)
        pck_crl = _crl(self.pck_ca_key, self.pck_ca_cert, issue, next_update)
        pem = serialization.Encoding.PEM
        root_pem = self.root_cert.public_bytes(pem).decode()
        tcb_chain = self.tcb_cert.public_bytes(pem).decode() + root_pem
        document = {
            "pck_crl_issuer_chain": self.pck_ca_cert.public_bytes(pem).decode() + root_pem,
            "root_ca_crl": root_crl.hex(),
            "pck_crl": pck_crl.hex(),
            "tcb_info_issuer_chain": tcb_chain,
            "tcb_info": tcb_info,
            "tcb_info_signature": _sign_raw(self.tcb_key, tcb_info.encode()).hex(),
            "qe_identity_issuer_chain": tcb_chain,
            "qe_identity": qe_identity,
            "qe_identity_signature": _sign_raw(self.tcb_key, qe_identity.encode()).hex(),
        }
        return json.dumps(document, indent=2).encode() + b"\n"

    def _tcb_info(self, issue: str, next_update: str, status: str) -> dict[str, Any]:
        def components(svns: list[int]) -> list[dict[str, int]]:
            return [{"svn": svn} for svn in svns]

        top: dict[str, Any] = {
            "tcb": {
                "sgxtcbcomponents": components(_SGX_COMPONENTS),
                "pcesvn": _PCE_SVN,
                "tdxtcbcomponents": components(_TDX_COMPONENTS),
            },
            "tcbDate": "2024-03-13T00:00:00Z",
            "tcbStatus": status,
        }
        if status != "UpToDate":
            top["advisoryIDs"] = [SIM_ADVISORY]
        module_identity = {
            "mrsigner": "00" * 48,
            "attributes": "0000000000000000",
            "attributesMask": "FFFFFFFFFFFFFFFF",
        }
        return {
            "id": "TDX",
            "version": 3,
            "issueDate": issue,
            "nextUpdate": next_update,
            "fmspc": self.fmspc.hex().upper(),
            "pceId": _PCE_ID.hex(),
            "tcbType": 0,
            "tcbEvaluationDataNumber": 17,
            "tdxModule": module_identity,
            "tdxModuleIdentities": [
                {
                    "id": "TDX_01",
                    **module_identity,
                    "tcbLevels": [
                        {
                            "tcb": {"isvsvn": 4},
                            "tcbDate": "2024-03-13T00:00:00Z",
                            "tcbStatus": "UpToDate",
                        }
                    ],
                }
            ],
            "tcbLevels": [
                top,
                {
                    "tcb": {
                        "sgxtcbcomponents": components(_SGX_COMPONENTS),
                        "pcesvn": 5,
                        "tdxtcbcomponents": components(_TDX_COMPONENTS),
                    },
                    "tcbDate": "2018-01-04T00:00:00Z",
                    "tcbStatus": "OutOfDate",
                    "advisoryIDs": [SIM_ADVISORY],
                },
            ],
        }


# -- generation -----------------------------------------------------------------------------------


def generate_platform(*, now: int, seed: bytes | None = None) -> SimulatedPlatform:
    """A new platform. With ``seed`` every key and measurement is derived from it (test vectors)."""

    def random_bytes(label: str, n: int) -> bytes:
        if seed is None:
            return secrets.token_bytes(n)
        return hashlib.shake_256(seed + b"\x00" + label.encode()).digest(n)

    def key(label: str) -> ec.EllipticCurvePrivateKey:
        if seed is None:
            return ec.generate_private_key(ec.SECP256R1())
        order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        value = int.from_bytes(random_bytes("key/" + label, 40), "big") % (order - 1) + 1
        return ec.derive_private_key(value, ec.SECP256R1())

    platform_id = random_bytes("id", 4).hex()
    root_key, pck_ca_key, pck_key, tcb_key = (key(name) for name in _FILES)
    start = _dt(now - 86400)
    root_name = _name(f"atlas-intoto Simulated SGX Root CA {platform_id}")
    pck_ca_name = _name(f"atlas-intoto Simulated SGX PCK Platform CA {platform_id}")
    root_cert = _certificate(
        subject=root_name,
        issuer=root_name,
        key=root_key,
        issuer_key=root_key,
        not_before=start,
        years=25,
        ca_path_length=1,
        serial=random_bytes("serial/root", 16),
    )
    pck_ca_cert = _certificate(
        subject=pck_ca_name,
        issuer=root_name,
        key=pck_ca_key,
        issuer_key=root_key,
        not_before=start,
        years=15,
        ca_path_length=0,
        serial=random_bytes("serial/pck-ca", 16),
    )
    fmspc = b"\x00\xa0" + random_bytes("fmspc", 4)
    ppid = random_bytes("ppid", 16)
    pck_cert = _certificate(
        subject=_name(f"atlas-intoto Simulated SGX PCK Certificate {platform_id}"),
        issuer=pck_ca_name,
        key=pck_key,
        issuer_key=pck_ca_key,
        not_before=start,
        years=7,
        ca_path_length=None,
        serial=random_bytes("serial/pck", 16),
        extra=[
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(SGX_EXTENSION_OID),
                sgx_extension(
                    ppid=ppid, cpu_svn=_CPU_SVN, pce_svn=_PCE_SVN, pce_id=_PCE_ID, fmspc=fmspc
                ),
            )
        ],
    )
    tcb_cert = _certificate(
        subject=_name(f"atlas-intoto Simulated SGX TCB Signing {platform_id}"),
        issuer=root_name,
        key=tcb_key,
        issuer_key=root_key,
        not_before=start,
        years=7,
        ca_path_length=None,
        serial=random_bytes("serial/tcb", 16),
    )
    return SimulatedPlatform(
        platform_id=platform_id,
        root_key=root_key,
        pck_ca_key=pck_ca_key,
        pck_key=pck_key,
        tcb_key=tcb_key,
        attestation_key=key("attestation"),
        root_cert=root_cert,
        pck_ca_cert=pck_ca_cert,
        pck_cert=pck_cert,
        tcb_cert=tcb_cert,
        fmspc=fmspc,
        ppid=ppid,
        mr_seam=random_bytes("mrseam", 48),
        mr_td=random_bytes("mrtd", 48),
        rtmr=(
            random_bytes("rtmr0", 48),
            random_bytes("rtmr1", 48),
            random_bytes("rtmr2", 48),
            random_bytes("rtmr3", 48),
        ),
        user_data=random_bytes("qe-id", 16) + bytes(4),
    )


class _SgxExtensionEntry(core.Sequence):  # type: ignore[misc]
    _fields = [("id", core.ObjectIdentifier), ("value", core.Any)]  # noqa: RUF012


class _SgxExtensionEntries(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _SgxExtensionEntry


class _SgxType(core.Enumerated):  # type: ignore[misc]
    _map = {0: "standard", 1: "scalable", 2: "scalable_with_integrity"}  # noqa: RUF012


def sgx_extension(
    *, ppid: bytes, cpu_svn: bytes, pce_svn: int, pce_id: bytes, fmspc: bytes, sgx_type: int = 0
) -> bytes:
    """DER of Intel's SGX extension (PCK Certificate and CRL Profile Specification §1.5)."""
    base = SGX_EXTENSION_OID

    def entry(oid: str, value: core.Asn1Value) -> _SgxExtensionEntry:
        return _SgxExtensionEntry({"id": oid, "value": value})

    tcb = [entry(f"{base}.2.{i + 1}", core.Integer(svn)) for i, svn in enumerate(cpu_svn)]
    tcb.append(entry(f"{base}.2.17", core.Integer(pce_svn)))
    tcb.append(entry(f"{base}.2.18", core.OctetString(cpu_svn)))
    der: bytes = _SgxExtensionEntries(
        [
            entry(f"{base}.1", core.OctetString(ppid)),
            entry(f"{base}.2", _SgxExtensionEntries(tcb)),
            entry(f"{base}.3", core.OctetString(pce_id)),
            entry(f"{base}.4", core.OctetString(fmspc)),
            entry(f"{base}.5", _SgxType(sgx_type)),
        ]
    ).dump()
    return der


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "atlas-intoto simulated TEE"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    years: int,
    ca_path_length: int | None,
    serial: bytes,
    extra: list[x509.ExtensionType] | None = None,
) -> x509.Certificate:
    is_ca = ca_path_length is not None
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(serial, "big") >> 1 or 1)
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=365 * years))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=not is_ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=ca_path_length), critical=True)
    )
    for extension in extra or []:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _crl(
    key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate, this_update: str, next_update: str
) -> bytes:
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(dt.datetime.fromisoformat(this_update))
        .next_update(dt.datetime.fromisoformat(next_update))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.DER)


def _qe_identity(issue: str, next_update: str) -> dict[str, Any]:
    return {
        "id": "TD_QE",
        "version": 2,
        "issueDate": issue,
        "nextUpdate": next_update,
        "tcbEvaluationDataNumber": 17,
        "miscselect": "00000000",
        "miscselectMask": "FFFFFFFF",
        "attributes": "11000000000000000000000000000000",
        "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
        "mrsigner": _QE_MR_SIGNER.hex().upper(),
        "isvprodid": _QE_PROD_ID,
        "tcbLevels": [
            {"tcb": {"isvsvn": 4}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": "UpToDate"}
        ],
    }


def _sign_raw(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA P-256/SHA-256 as DCAP encodes it: r ‖ s, 32 bytes each, big-endian."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def _dt(unix: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix, tz=dt.UTC).replace(microsecond=0)


def _utc(unix: int) -> str:
    return _dt(unix).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- persistence (ATLAS_INTOTO_HOME/tee-sim) -------------------------------------------------------


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def platform_files(platform: SimulatedPlatform) -> dict[str, bytes]:
    """The files that persist ``platform`` (private keys are PKCS#8 PEM)."""
    pem = serialization.Encoding.PEM
    files: dict[str, bytes] = {}
    for name, key, cert in (
        ("root", platform.root_key, platform.root_cert),
        ("pck-ca", platform.pck_ca_key, platform.pck_ca_cert),
        ("pck", platform.pck_key, platform.pck_cert),
        ("tcb-signing", platform.tcb_key, platform.tcb_cert),
    ):
        files[f"{name}.key"] = _pem_key(key)
        files[f"{name}.crt"] = cert.public_bytes(pem)
    files["attestation.key"] = _pem_key(platform.attestation_key)
    meta = {
        "version": 1,
        "platform_id": platform.platform_id,
        "fmspc": platform.fmspc.hex(),
        "ppid": platform.ppid.hex(),
        "mr_seam": platform.mr_seam.hex(),
        "mr_td": platform.mr_td.hex(),
        "rtmr": [value.hex() for value in platform.rtmr],
        "user_data": platform.user_data.hex(),
    }
    files["platform.json"] = json.dumps(meta, indent=2).encode() + b"\n"
    return files


def load_platform(files: Mapping[str, bytes], *, source: str = "tee-sim") -> SimulatedPlatform:
    try:
        meta = json.loads(files["platform.json"])

        def key(name: str) -> ec.EllipticCurvePrivateKey:
            loaded = serialization.load_pem_private_key(files[f"{name}.key"], password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{name}.key is not an EC key")
            return loaded

        def cert(name: str) -> x509.Certificate:
            return x509.load_pem_x509_certificate(files[f"{name}.crt"])

        rtmr = tuple(bytes.fromhex(value) for value in meta["rtmr"])
        if len(rtmr) != 4:
            raise ValueError("rtmr needs 4 values")
        return SimulatedPlatform(
            platform_id=meta["platform_id"],
            root_key=key("root"),
            pck_ca_key=key("pck-ca"),
            pck_key=key("pck"),
            tcb_key=key("tcb-signing"),
            attestation_key=key("attestation"),
            root_cert=cert("root"),
            pck_ca_cert=cert("pck-ca"),
            pck_cert=cert("pck"),
            tcb_cert=cert("tcb-signing"),
            fmspc=bytes.fromhex(meta["fmspc"]),
            ppid=bytes.fromhex(meta["ppid"]),
            mr_seam=bytes.fromhex(meta["mr_seam"]),
            mr_td=bytes.fromhex(meta["mr_td"]),
            rtmr=(rtmr[0], rtmr[1], rtmr[2], rtmr[3]),
            user_data=bytes.fromhex(meta["user_data"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{source}: simulated TEE platform is damaged ({exc})") from exc


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise creation/refresh between processes (concurrent `run`s on one machine)."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = open(directory / ".lock", "a+b")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"{directory}: cannot create simulated TEE platform ({exc})") from exc
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def ensure_platform(directory: Path, *, now: int) -> SimulatedPlatform:
    """Load the platform persisted in ``directory``, creating it on first use."""
    from atlas_intoto.fileio import atomic_write, read_bytes

    with _locked(directory):
        if not (directory / "platform.json").exists():
            platform = generate_platform(now=now)
            files = platform_files(platform)
            # platform.json goes last: its presence marks a complete platform.
            for name, data in sorted(files.items(), key=lambda item: item[0] == "platform.json"):
                atomic_write(directory / name, data, mode=0o600 if name.endswith(".key") else 0o644)
            return platform
        names = [f"{n}.{ext}" for n in _FILES for ext in ("key", "crt")]
        names += ["attestation.key", "platform.json"]
        files = {name: read_bytes(directory / name, what="simulated TEE file") for name in names}
        return load_platform(files, source=str(directory))


def ensure_collateral(directory: Path, platform: SimulatedPlatform, *, now: int) -> bytes:
    """The platform's current collateral, regenerated once a day (and whenever unusable)."""
    from atlas_intoto.fileio import atomic_write

    path = directory / "collateral.json"
    with _locked(directory):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            cached = path.read_bytes()
            issue = json.loads(json.loads(cached)["tcb_info"])["issueDate"]
            issued_at = int(dt.datetime.fromisoformat(issue.replace("Z", "+00:00")).timestamp())
            if issued_at <= now < issued_at + CLOCK_SKEW + COLLATERAL_REFRESH:
                return cached
        collateral = platform.make_collateral(issued_at=now - CLOCK_SKEW)
        atomic_write(path, collateral)
        return collateral


def default_directory(home: Path) -> Path:
    return Path(home) / "tee-sim"
