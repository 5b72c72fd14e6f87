"""runner.execute_command: bounded byproducts (digest and size always, capped text on request)."""

from __future__ import annotations

import hashlib
import io
import sys

import pytest

from atlas_intoto.errors import UsageError
from atlas_intoto.runner import execute_command

TWO_MB = 2 * 1024 * 1024
CHATTY = [
    sys.executable,
    "-c",
    f"import sys; sys.stdout.write('x' * {TWO_MB}); print('e', file=sys.stderr)",
]


def test_default_records_digest_and_size_not_the_text() -> None:
    echoed = io.StringIO()
    result = execute_command(CHATTY, echo_stdout=echoed, echo_stderr=io.StringIO())
    assert result == {
        "stdout-sha256": hashlib.sha256(b"x" * TWO_MB).hexdigest(),
        "stdout-size": TWO_MB,
        "stderr-sha256": hashlib.sha256(b"e\n").hexdigest(),
        "stderr-size": 2,
        "return-value": 0,
    }
    assert len(echoed.getvalue()) == TWO_MB  # still echoed live, in full


def test_record_output_keeps_a_capped_prefix_and_states_the_truncation() -> None:
    result = execute_command(
        CHATTY,
        echo_stdout=io.StringIO(),
        echo_stderr=io.StringIO(),
        record_output=True,
        output_cap=1000,
    )
    assert result["stdout"] == "x" * 1000 and result["stdout-truncated"] is True
    assert result["stdout-size"] == TWO_MB
    assert result["stderr"] == "e\n" and result["stderr-truncated"] is False


def test_zero_cap_keeps_no_text() -> None:
    result = execute_command(
        [sys.executable, "-c", "print('hi')"],
        echo_stdout=io.StringIO(),
        record_output=True,
        output_cap=0,
    )
    assert result["stdout"] == "" and result["stdout-truncated"] is True


def test_negative_cap_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--output-cap"):
        execute_command([sys.executable, "-c", "pass"], output_cap=-1)
