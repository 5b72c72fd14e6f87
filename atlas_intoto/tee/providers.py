"""Where quotes come from: the kernel's configfs-tsm interface, or the simulated platform.

Both implement :class:`TeeProvider`: ``quote(report_data) -> bytes`` and
``collateral(quote) -> bytes`` (QuoteCollateralV3 JSON).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from atlas_intoto.errors import CollateralFetchError, TeeUnavailableError

if TYPE_CHECKING:
    from atlas_intoto.tee.simulated import SimulatedPlatform

#: Where Linux mounts configfs-tsm reports (Documentation/ABI/testing/configfs-tsm).
CONFIGFS_TSM_ROOT = Path("/sys/kernel/config/tsm/report")


class TeeProvider(Protocol):
    """A source of quotes: a real TD (configfs-tsm) or the simulated platform."""

    #: The evidence ``type`` recorded in the link ("tdx" or "simulated-tdx").
    evidence_type: str

    def quote(self, report_data: bytes) -> bytes: ...

    def collateral(self, quote: bytes) -> bytes: ...


class ConfigfsTsmProvider:
    """A TDX guest's quotes through configfs-tsm.

    One report directory per quote: ``mkdir``, write the 64-byte REPORTDATA to ``inblob``, read
    ``outblob``, ``rmdir``. ``generation`` counts writes to the directory; it is read after
    writing ``inblob`` and again after reading ``outblob``, and a difference means another
    writer raced us, so the quote may be for someone else's REPORTDATA: retry.

    Collateral comes from ``collateral_source``: a PCCS/PCS URL (fetched with dcap-qvl's client),
    a ``file://`` URL or a path.
    """

    evidence_type = "tdx"

    def __init__(
        self,
        root: Path = CONFIGFS_TSM_ROOT,
        *,
        collateral_source: str | None = None,
        attempts: int = 3,
    ) -> None:
        self.root = Path(root)
        self.collateral_source = collateral_source
        self.attempts = attempts

    def quote(self, report_data: bytes) -> bytes:
        if len(report_data) != 64:
            raise ValueError("REPORTDATA must be 64 bytes")
        if not self.root.is_dir():
            raise TeeUnavailableError(
                f"{self.root}: configfs-tsm is not available (not a TDX guest, or configfs not "
                "mounted); use --tee simulated on machines without TDX"
            )
        for _ in range(self.attempts):
            quote = self._attempt(report_data)
            if quote is not None:
                return quote
        raise TeeUnavailableError(
            f"{self.root}: configfs-tsm report raced with another writer {self.attempts} times"
        )

    def _attempt(self, report_data: bytes) -> bytes | None:
        directory = self.root / f"atlas-intoto-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self._create(directory)
        except OSError as exc:
            raise TeeUnavailableError(
                f"{directory}: cannot create a configfs-tsm report ({exc.strerror or exc})"
            ) from exc
        try:
            provider = self._read(directory / "provider", optional=True)
            if provider is not None and provider.strip() != b"tdx_guest":
                raise TeeUnavailableError(
                    f"{directory}/provider: TEE provider is {provider.strip().decode(errors='replace')!r}, "
                    "not tdx_guest"
                )
            self._write(directory / "inblob", report_data)
            before = self._generation(directory)
            quote = self._read(directory / "outblob")
            after = self._generation(directory)
            if before != after or quote is None:
                return None
            return quote
        except OSError as exc:
            raise TeeUnavailableError(
                f"{directory}: configfs-tsm report failed ({exc.strerror or exc})"
            ) from exc
        finally:
            with contextlib.suppress(OSError):
                self._remove(directory)

    def _generation(self, directory: Path) -> int:
        raw = self._read(directory / "generation")
        try:
            return int((raw or b"").strip())
        except ValueError as exc:
            raise TeeUnavailableError(f"{directory}/generation: not a number ({raw!r})") from exc

    # The filesystem operations, separate so tests can emulate the kernel in a plain directory.
    def _create(self, directory: Path) -> None:
        directory.mkdir()

    def _write(self, path: Path, data: bytes) -> None:
        with open(path, "wb", buffering=0) as handle:
            handle.write(data)

    def _read(self, path: Path, *, optional: bool = False) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            if optional:
                return None
            raise

    def _remove(self, directory: Path) -> None:
        directory.rmdir()

    def collateral(self, quote: bytes) -> bytes:
        from atlas_intoto.tee.dcap import load_collateral

        if not self.collateral_source:
            raise CollateralFetchError(
                "--tee tdx needs --tee-collateral-url (a PCCS/PCS URL or a collateral file)"
            )
        return load_collateral(self.collateral_source, quote)


class SimulatedTdxProvider:
    """Quotes from the simulated platform persisted under ``home/tee-sim`` (created on first use)."""

    evidence_type = "simulated-tdx"

    def __init__(self, home: Path, *, clock: Callable[[], float] = time.time) -> None:
        from atlas_intoto.tee.simulated import default_directory

        self.directory = default_directory(home)
        self.clock = clock

    def platform(self) -> SimulatedPlatform:
        from atlas_intoto.tee.simulated import ensure_platform

        return ensure_platform(self.directory, now=int(self.clock()))

    def quote(self, report_data: bytes) -> bytes:
        return self.platform().make_quote(report_data)

    def collateral(self, quote: bytes) -> bytes:
        from atlas_intoto.tee.simulated import ensure_collateral

        now = int(self.clock())
        return ensure_collateral(self.directory, self.platform(), now=now)
