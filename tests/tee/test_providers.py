"""atlas_intoto.tee.providers: configfs-tsm against an emulated kernel directory, simulated."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_intoto.errors import CollateralFetchError, TeeUnavailableError
from atlas_intoto.tee.providers import ConfigfsTsmProvider, SimulatedTdxProvider
from atlas_intoto.tee.quote import parse_quote
from atlas_intoto.tee.simulated import generate_platform

PLATFORM = generate_platform(now=1760000000, seed=b"configfs")


class FakeKernel(ConfigfsTsmProvider):
    """Emulates configfs-tsm in a plain directory: a report directory gets its attribute files
    on mkdir, writing inblob bumps generation and produces outblob; ``race`` extra writes by
    "another process" happen while outblob is being read."""

    def __init__(self, root: Path, *, races: int = 0, provider: str = "tdx_guest") -> None:
        super().__init__(root)
        self.races = races
        self.provider_name = provider
        self.created: list[Path] = []

    def _create(self, directory: Path) -> None:
        super()._create(directory)
        self.created.append(directory)
        (directory / "provider").write_text(self.provider_name + "\n")
        (directory / "generation").write_text("0\n")

    def _write(self, path: Path, data: bytes) -> None:
        super()._write(path, data)
        generation = path.parent / "generation"
        generation.write_text(f"{int(generation.read_text()) + 1}\n")
        (path.parent / "outblob").write_bytes(PLATFORM.make_quote(data))

    def _read(self, path: Path, *, optional: bool = False) -> bytes | None:
        if path.name == "outblob" and self.races:
            self.races -= 1
            generation = path.parent / "generation"
            generation.write_text(f"{int(generation.read_text()) + 1}\n")
        return super()._read(path, optional=optional)

    def _remove(self, directory: Path) -> None:
        for child in directory.iterdir():
            child.unlink()
        super()._remove(directory)


def test_configfs_quote(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path)
    quote = kernel.quote(b"\x42" * 64)
    assert parse_quote(quote).report.report_data == b"\x42" * 64
    assert kernel.created and not any(d.exists() for d in kernel.created)


def test_configfs_retries_after_race(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, races=2)
    quote = kernel.quote(b"\x01" * 64)
    assert parse_quote(quote).report.report_data == b"\x01" * 64
    assert len(kernel.created) == 3
    assert list(tmp_path.iterdir()) == []


def test_configfs_gives_up_after_repeated_races(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, races=5)
    with pytest.raises(TeeUnavailableError, match="raced with another writer 3 times"):
        kernel.quote(b"\x01" * 64)
    assert list(tmp_path.iterdir()) == []


def test_configfs_other_provider(tmp_path: Path) -> None:
    with pytest.raises(TeeUnavailableError, match="sev_guest"):
        FakeKernel(tmp_path, provider="sev_guest").quote(bytes(64))


def test_configfs_absent(tmp_path: Path) -> None:
    with pytest.raises(TeeUnavailableError, match="configfs-tsm is not available"):
        ConfigfsTsmProvider(tmp_path / "missing").quote(bytes(64))


def test_configfs_plain_directory_without_kernel(tmp_path: Path) -> None:
    # mkdir works but no attribute files appear: not configfs.
    with pytest.raises(TeeUnavailableError, match="configfs-tsm report failed"):
        ConfigfsTsmProvider(tmp_path).quote(bytes(64))


def test_configfs_report_data_length(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        ConfigfsTsmProvider(tmp_path).quote(b"short")


def test_configfs_collateral_needs_source(tmp_path: Path) -> None:
    with pytest.raises(CollateralFetchError, match="--tee-collateral-url"):
        ConfigfsTsmProvider(tmp_path).collateral(b"")


def test_configfs_collateral_from_file(tmp_path: Path) -> None:
    collateral = PLATFORM.make_collateral(issued_at=1760000000)
    path = tmp_path / "c.json"
    path.write_bytes(collateral)
    provider = ConfigfsTsmProvider(tmp_path, collateral_source=str(path))
    assert provider.collateral(b"") == collateral


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pccs() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_collateral_fetch_failure_is_operational(tmp_path: Path, pccs: str) -> None:
    quote = PLATFORM.make_quote(bytes(64))
    provider = ConfigfsTsmProvider(tmp_path, collateral_source=pccs)
    with pytest.raises(CollateralFetchError, match="cannot fetch TEE collateral"):
        provider.collateral(quote)


def test_simulated_provider(tmp_path: Path) -> None:
    provider = SimulatedTdxProvider(tmp_path, clock=lambda: 1760000000.0)
    quote = provider.quote(b"\x09" * 64)
    assert parse_quote(quote).report.mr_td == provider.platform().mr_td
    assert provider.collateral(quote) == provider.collateral(quote)
    assert (tmp_path / "tee-sim" / "platform.json").exists()
