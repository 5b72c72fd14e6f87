"""CLI: step commands (not yet implemented)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Nothing registered yet."""
