"""A SoftHSM2 token for the PKCS#11 tests (importable as ``softhsm``: tests/ is on sys.path).

SoftHSM reads its configuration once per process (when the PKCS#11 module is initialised), so
the tests share one token, created once per session in a temporary directory; each test uses
its own key id on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
LABEL = "atlas-test"
PIN = "1234"
INSTALL = "apt-get install softhsm2 && pip install 'atlas-intoto[hsm]'"


def _missing() -> str | None:
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return "python-pkcs11"
    if shutil.which("softhsm2-util") is None or not MODULE.is_file():
        return "softhsm2"
    return None


@pytest.fixture(scope="session", name="softhsm_token")
def softhsm_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The PKCS#11 module path of a fresh SoftHSM2 token labelled ``LABEL`` (user PIN ``PIN``);
    ``PYKCS11LIB``, ``SOFTHSM2_CONF`` and ``ATLAS_INTOTO_HSM_PIN`` are set for the session."""
    missing = _missing()
    if missing is not None:
        # README's test command installs SoftHSM2 (tests/system_deps.sh): a test that skipped
        # without it would silently not run
        pytest.fail(f"{missing} is missing; run tests/system_deps.sh ({INSTALL})")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    saved = {k: os.environ.get(k) for k in ("SOFTHSM2_CONF", "PYKCS11LIB", "ATLAS_INTOTO_HSM_PIN")}
    os.environ.update(SOFTHSM2_CONF=str(conf), PYKCS11LIB=str(MODULE), ATLAS_INTOTO_HSM_PIN=PIN)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            LABEL,
            "--pin",
            PIN,
            "--so-pin",
            "0000",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield str(MODULE)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def key_uri(keyid: int) -> str:
    return f"hsm:{keyid}?label={LABEL}"
