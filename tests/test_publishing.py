"""Offline-first publishing: a log that is down, then up; one that dies mid-run; 5xx retries;
409 duplicates; links over the log's entry limit. A step that ran never loses its evidence."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port, log_on

from atlas_intoto.errors import (
    InputError,
    LogEntryTooLargeError,
    LogServerError,
    NetworkError,
    PublishPendingError,
)
from atlas_intoto.keys import generate_keypair, load_public_key
from atlas_intoto.publishing import (
    PendingMarker,
    RetryPolicy,
    marker_path,
    pending_markers,
    publish_pending,
    publish_with_retries,
    read_marker,
)
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import run_step
from atlas_intoto.tlog.logentry import verify_log_entry

CHATTY = [sys.executable, "-c", "import sys; sys.stdout.write('y' * (2 * 1024 * 1024))"]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    generate_keypair("alice", directory=tmp_path / "keys")
    (tmp_path / "in.txt").write_text("input\n")
    return tmp_path


def options(ws: Path, url: str, **changes: Any) -> RecordingOptions:
    return RecordingOptions(
        key_path=ws / "keys" / "alice.key", log_url=url, log_backoff=0.0, **changes
    )


def record(ws: Path, url: str, step: str = "prepare", **changes: Any) -> Any:
    return run_step(
        step=step,
        options=options(ws, url, **changes),
        command=[sys.executable, "-c", "print('done')"],
        materials=["in.txt"],
        echo_stdout=io.StringIO(),
    )


def stem(ws: Path, step: str = "prepare") -> str:
    return f"{step}.{load_public_key(ws / 'keys' / 'alice.pub').keyid[:8]}"


def unused_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# --- a log that is down, then up -----------------------------------------------------------------


def test_log_down_keeps_everything_with_a_marker_then_log_publish_finishes(ws: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(PublishPendingError) as caught:
        record(ws, url, log_retries=2)
    message = str(caught.value)
    assert "finish with: atlas-intoto log publish --evidence .atlas --url " + url in message
    assert caught.value.exit_code == 2
    recorded = caught.value.recorded
    assert recorded is not None and recorded.link_path.read_bytes() == recorded.envelope
    marker = read_marker(marker_path(ws / ".atlas", stem(ws)))
    assert marker.link == f"{stem(ws)}.link" and marker.log_url == url
    assert "cannot reach log" in marker.reason
    assert not (ws / ".atlas" / f"{stem(ws)}.logentry.json").exists()

    with log_on(ws / "log", port) as (live_url, log_pem):
        assert live_url == url
        outcome = publish_pending(ws / ".atlas", url=url, policy=RetryPolicy(retries=0))
    assert outcome.published == (f"{stem(ws)}.link",) and not outcome.failed
    assert pending_markers(ws / ".atlas") == []
    entry = json.loads((ws / ".atlas" / f"{stem(ws)}.logentry.json").read_bytes())
    verify_log_entry(entry, log_keys=[log_pem], envelope=recorded.envelope)


def test_retries_wait_with_bounded_doubling_backoff(ws: Path) -> None:
    waits: list[float] = []
    calls: list[int] = []

    class Flaky:
        def publish(self, envelope: bytes, public_key_pem: bytes) -> Mapping[str, Any]:
            calls.append(1)
            if len(calls) < 4:
                raise LogServerError("log answered 503", status=503)
            return {"uuid": {"logIndex": 1}}

    document = publish_with_retries(
        Flaky(),
        b"{}",
        b"pem",
        policy=RetryPolicy(retries=5, backoff=10.0),
        max_entry=1000,
        what="x.link",
        sleep=waits.append,
    )
    assert document == {"uuid": {"logIndex": 1}}
    assert waits == [10.0, 20.0, 30.0]  # doubling, capped at 30 s


def test_a_4xx_other_than_413_is_not_retried() -> None:
    waits: list[float] = []

    class Refusing:
        def publish(self, envelope: bytes, public_key_pem: bytes) -> Mapping[str, Any]:
            raise LogServerError("log answered 400", status=400)

    with pytest.raises(LogServerError):
        publish_with_retries(
            Refusing(),
            b"{}",
            b"pem",
            policy=RetryPolicy(),
            max_entry=99,
            what="x",
            sleep=waits.append,
        )
    assert waits == []


# --- a log that dies mid-run ---------------------------------------------------------------------


def _pending_links(ws: Path, count: int) -> list[str]:
    url = unused_url()
    names = []
    for index in range(count):
        with pytest.raises(PublishPendingError):
            record(ws, url, step=f"step{index}", log_retries=0)
        names.append(f"{stem(ws, f'step{index}')}.link")
    return names


def test_log_dying_mid_run_publishes_what_it_can_and_keeps_the_rest(ws: Path) -> None:
    names = _pending_links(ws, 3)
    with log_on(ws / "log") as (url, _):
        from atlas_intoto.tlog.rekor_v1 import RekorV1Publisher

        real = RekorV1Publisher(url)

        class DiesAfterOne:
            def publish(self, envelope: bytes, public_key_pem: bytes) -> Mapping[str, Any]:
                if (ws / "died").exists():
                    raise NetworkError(f"{url}: cannot reach log (connection refused)")
                (ws / "died").touch()
                return real.publish(envelope, public_key_pem)

        from atlas_intoto.tlog import backend

        class Dying(backend.LogBackend):
            name = "dying"

            def publisher(self, url: str) -> Any:
                return DiesAfterOne()

            def verify(self, document: Any, *, envelope: bytes, log_keys: Any) -> Any:
                raise NotImplementedError

        backend.register(Dying())
        try:
            outcome = publish_pending(
                ws / ".atlas", url=url, backend="dying", policy=RetryPolicy(retries=1, backoff=0)
            )
        finally:
            backend.unregister("dying")
        assert outcome.published == (names[0],)
        assert set(outcome.failed) == {names[1], names[2]}
        assert len(pending_markers(ws / ".atlas")) == 2
        # The log is back: the rest is published, the first is not published twice.
        again = publish_pending(ws / ".atlas", url=url, policy=RetryPolicy(retries=0))
        assert again.published == (names[1], names[2])
        from atlas_intoto.tlog.client import RekorClient

        with RekorClient(url) as client:
            # 3 links, each once, and the Statements of the two published as Rekor v1 (the
            # first went through the test's "dying" backend, which logs no Statement)
            assert int(client.log_info()["treeSize"]) == 5
    assert pending_markers(ws / ".atlas") == []


# --- 409: the log already holds the entry --------------------------------------------------------


def test_publishing_an_entry_the_log_holds_fetches_it_and_keeps_its_proof(ws: Path) -> None:
    with log_on(ws / "log") as (url, log_pem):
        recorded = record(ws, url)
        first = json.loads(recorded.log_entry_path.read_bytes())
        # As if the entry was saved but the marker survived a crash: publish again.
        pem = (ws / "keys" / "alice.pub").read_text()
        marker = PendingMarker(
            link=f"{stem(ws)}.link", log_url=url, log_backend="rekor-v1", public_key=pem
        )
        from atlas_intoto.publishing import write_marker

        write_marker(ws / ".atlas", marker)
        (ws / ".atlas" / f"{stem(ws)}.logentry.json").unlink()
        outcome = publish_pending(ws / ".atlas", url=url)
        assert outcome.published == (f"{stem(ws)}.link",)
        again = json.loads((ws / ".atlas" / f"{stem(ws)}.logentry.json").read_bytes())
        assert next(iter(again.values()))["logIndex"] == next(iter(first.values()))["logIndex"]
        verify_log_entry(again, log_keys=[log_pem], envelope=recorded.envelope)
        from atlas_intoto.tlog.client import RekorClient

        with RekorClient(url) as client:
            # the link's entry and its Statement's (Sigstore bundle), each logged once
            assert int(client.log_info()["treeSize"]) == 2


# --- bounded links and the log's entry limit -----------------------------------------------------


def test_a_step_printing_2_mb_gives_a_small_link_the_log_accepts(ws: Path) -> None:
    with log_on(ws / "log") as (url, _):
        recorded = run_step(
            step="chatty",
            options=options(ws, url),
            command=CHATTY,
            echo_stdout=io.StringIO(),
        )
    assert len(recorded.envelope) < 8 * 1024
    assert recorded.log_entry_path is not None and recorded.log_entry_path.is_file()


def test_a_link_over_the_limit_is_reported_before_publishing_and_kept(ws: Path) -> None:
    with log_on(ws / "log") as (url, _):
        with pytest.raises(LogEntryTooLargeError, match="over the log's limit of 2000"):
            run_step(
                step="chatty",
                options=options(ws, url, record_output=True, log_max_entry=2000),
                command=CHATTY,
                echo_stdout=io.StringIO(),
            )
        from atlas_intoto.tlog.client import RekorClient

        with RekorClient(url) as client:
            assert int(client.log_info()["treeSize"]) == 0  # nothing was sent
    assert (ws / ".atlas" / f"{stem(ws, 'chatty')}.link").is_file()
    assert (
        "over the log's limit" in read_marker(marker_path(ws / ".atlas", stem(ws, "chatty"))).reason
    )


def test_the_logs_own_413_is_reported_as_too_large_and_kept(ws: Path) -> None:
    with (
        log_on(ws / "log", max_body=4096) as (url, _),
        pytest.raises(LogEntryTooLargeError, match="refused the entry as too large"),
    ):
        run_step(
            step="chatty",
            options=options(ws, url, record_output=True, output_cap=20_000),
            command=CHATTY,
            echo_stdout=io.StringIO(),
        )
    assert pending_markers(ws / ".atlas") != []


def test_malformed_marker_is_an_input_error_naming_the_file(ws: Path) -> None:
    path = marker_path(ws / ".atlas", "x.12345678")
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "link": "../x.link"}')
    with pytest.raises(InputError, match=r"x\.12345678\.json: field log_url"):
        publish_pending(ws / ".atlas", url="http://127.0.0.1:9")


def test_stale_marker_without_its_link_is_removed(ws: Path) -> None:
    pem = (ws / "keys" / "alice.pub").read_text()
    from atlas_intoto.publishing import write_marker

    write_marker(
        ws / ".atlas",
        PendingMarker(
            link="gone.12345678.link", log_url="x", log_backend="rekor-v1", public_key=pem
        ),
    )
    outcome = publish_pending(ws / ".atlas", url="http://127.0.0.1:9")
    assert outcome.stale == ("gone.12345678.link",) and pending_markers(ws / ".atlas") == []
