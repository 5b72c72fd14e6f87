"""Where local state lives: ``ATLAS_INTOTO_HOME`` (default ``~/.local/share/atlas-intoto``)."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "ATLAS_INTOTO_HOME"


def atlas_home() -> Path:
    """The state directory (simulated TEE platform, verification cache). Not created here."""
    value = os.environ.get(HOME_ENV)
    if value:
        return Path(value)
    return Path.home() / ".local" / "share" / "atlas-intoto"
