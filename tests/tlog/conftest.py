"""Keys shared by the transparency-log tests."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    """A functionary's ECDSA P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_key() -> ec.EllipticCurvePrivateKey:
    """A second, unrelated ECDSA P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())
