"""A simulated TDX platform with a complete DCAP trust chain that dcap-qvl verifies.

Build machines have no TDX, so this package produces quotes that are real in format and chain
structure (docs/tee.md), rooted in a generated CA instead of Intel's (:mod:`.pki`), with
collateral in dcap-qvl's ``QuoteCollateralV3`` JSON (:mod:`.collateral`). This module is the
platform itself: its keys, fixed measurements (MRSEAM, MRTD, RTMRs), the quoting

    attestation key ──► signs header ‖ TD report (the quote)
    PCK key ──► signs the QE report, whose REPORTDATA binds SHA-256(attestation key ‖ QE auth data)

and its persistence in ``ATLAS_INTOTO_HOME/tee-sim/`` (:func:`ensure_platform`,
:func:`ensure_collateral`); everything else is deterministic given keys, measurements and a time.
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

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
from atlas_intoto.tee.simulated.collateral import (
    CLOCK_SKEW,
    COLLATERAL_REFRESH,
    COLLATERAL_VALIDITY,
    QE_MR_SIGNER,
    QE_PROD_ID,
    make_collateral,
)
from atlas_intoto.tee.simulated.pki import CHAIN_NAMES, issue_chain, sign_raw, utc_datetime

# Values dcap-qvl appraises, as in Intel's production TDX collateral and a current platform.
_TEE_TCB_SVN = bytes([6, 1, 3]) + bytes(13)
_TD_ATTRIBUTES = bytes.fromhex("0000001000000000")  # SEPT_VE_DISABLE (bit 28), not debug
_XFAM = bytes.fromhex("e702060000000000")
_QE_MR_ENCLAVE = bytes.fromhex("e5a3a7b5d830c2953b98534c6c59a3a34fdc34e933f7f5898f0a85cf08846bca")
_QE_CPU_SVN = bytes.fromhex("0303191b04ff00060000000000000000")
_QE_ATTRIBUTES = bytes.fromhex("1500000000000000e700000000000000")
_QE_SVN = 6
_QE_AUTH_DATA = bytes(range(32))
# Seeded platforms derive each certificate serial from these labels (kept: test vectors).
_SERIAL_LABELS = {"root": "root", "pck-ca": "pck-ca", "pck": "pck", "tcb-signing": "tcb"}


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
            mr_signer=QE_MR_SIGNER,
            reserved3=bytes(96),
            isv_prod_id=QE_PROD_ID,
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
                        qe_report_signature=sign_raw(self.pck_key, qe_report.encode()),
                        qe_auth_data=_QE_AUTH_DATA,
                        certification=CertificationData(
                            cert_type=CERT_TYPE_PCK_CHAIN, data=pck_chain + b"\x00"
                        ),
                    ),
                ),
            ),
        )
        signature = sign_raw(self.attestation_key, quote.signed_bytes())
        return build_quote(quote.with_signature(signature))

    def make_collateral(
        self, *, issued_at: int, validity: int = COLLATERAL_VALIDITY, tcb_status: str = "UpToDate"
    ) -> bytes:
        """QuoteCollateralV3 JSON valid from ``issued_at`` for ``validity`` seconds
        (:func:`.collateral.make_collateral`)."""
        return make_collateral(self, issued_at=issued_at, validity=validity, tcb_status=tcb_status)


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
    keys = {name: key(name) for name in CHAIN_NAMES}
    fmspc = b"\x00\xa0" + random_bytes("fmspc", 4)
    ppid = random_bytes("ppid", 16)
    chain = issue_chain(
        platform_id=platform_id,
        keys=keys,
        serials={name: random_bytes(f"serial/{_SERIAL_LABELS[name]}", 16) for name in CHAIN_NAMES},
        fmspc=fmspc,
        ppid=ppid,
        not_before=utc_datetime(now - 86400),
    )
    return SimulatedPlatform(
        platform_id=platform_id,
        root_key=keys["root"],
        pck_ca_key=keys["pck-ca"],
        pck_key=keys["pck"],
        tcb_key=keys["tcb-signing"],
        attestation_key=key("attestation"),
        root_cert=chain.root_cert,
        pck_ca_cert=chain.pck_ca_cert,
        pck_cert=chain.pck_cert,
        tcb_cert=chain.tcb_cert,
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
    """The platform persisted as ``files`` (:func:`platform_files`); InputError if damaged."""
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
        names = [f"{n}.{ext}" for n in CHAIN_NAMES for ext in ("key", "crt")]
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
    """Where the platform of ``ATLAS_INTOTO_HOME`` ``home`` is kept."""
    return Path(home) / "tee-sim"
