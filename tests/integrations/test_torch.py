"""PyTorch integration: attested_training around a real (tiny) training loop."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from atlas_intoto.errors import AttestationFailedError, InputError  # noqa: E402
from atlas_intoto.integrations import training  # noqa: E402
from atlas_intoto.integrations.torch import attested_training  # noqa: E402
from atlas_intoto.keys import generate_keypair  # noqa: E402
from atlas_intoto.recording import RecordingOptions  # noqa: E402


def _payload(link: Path) -> dict[str, Any]:
    return json.loads(base64.b64decode(json.loads(link.read_bytes())["payload"]))  # type: ignore[no-any-return]


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    generate_keypair("trainer", directory=tmp_path / "keys")
    (tmp_path / "data.pt").write_bytes(b"dataset bytes")
    (tmp_path / "config.json").write_text('{"lr": 0.1}')
    return tmp_path


def _train(run: Any, epochs: int = 2) -> Any:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    for epoch in range(epochs):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
        run.save(
            {"model": model.state_dict(), "optimiser": optimiser.state_dict()},
            f"ckpt/epoch-{epoch}.pt",
        )
        run.save_safetensors(model.state_dict(), f"ckpt/epoch-{epoch}.safetensors")
    run.save_model(model, "model/model.safetensors", final=True)
    return model


def test_training_loop_is_recorded_with_every_checkpoint(work: Path) -> None:
    key = work / "keys" / "trainer.key"
    with attested_training(
        step="train",
        options=RecordingOptions(key_path=key),
        materials=["data.pt", "config.json"],
        command=["python", "train.py"],
    ) as run:
        model = _train(run)
    assert run.result is not None
    link = _payload(run.result.link_path)
    assert link["command"] == ["python", "train.py"]
    assert set(link["materials"]) == {"data.pt", "config.json"}
    assert set(link["products"]) == {
        "ckpt/epoch-0.pt",
        "ckpt/epoch-0.safetensors",
        "ckpt/epoch-1.pt",
        "ckpt/epoch-1.safetensors",
        "model/model.safetensors",
    }
    # Four checkpoints got links of their own; the final weights only the run's link.
    assert len(list((work / ".atlas" / "checkpoints").glob("train-checkpoint-*.link"))) == 4
    # The helpers really saved what they were given.
    loaded = safetensors_torch.load_file("ckpt/epoch-1.safetensors")
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded[name], tensor)
    state = torch.load("ckpt/epoch-1.pt", weights_only=True)
    assert set(state) == {"model", "optimiser"}


def test_exception_in_training_writes_no_link(work: Path) -> None:
    key = work / "keys" / "trainer.key"
    with (
        pytest.raises(RuntimeError, match="diverged"),
        attested_training(
            step="train",
            options=RecordingOptions(key_path=key),
            materials=["data.pt"],
            worker="thread",  # the patched record_step lives in this process
        ) as run,
    ):
        run.save({"w": torch.zeros(2)}, "ckpt/0.pt")
        raise RuntimeError("loss diverged")
    assert not list((work / ".atlas").glob("train.*.link"))
    assert not list((work / ".atlas" / ".pending").glob("*.json"))


def test_failed_checkpoint_attestation_fails_the_block(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> Any:
        raise InputError("log: simulated outage")

    monkeypatch.setattr(training, "record_step", broken)
    key = work / "keys" / "trainer.key"
    with (
        pytest.raises(AttestationFailedError, match="simulated outage"),
        attested_training(
            step="train",
            options=RecordingOptions(key_path=key),
            materials=["data.pt"],
            worker="thread",  # the patched record_step lives in this process
        ) as run,
    ):
        run.save({"w": torch.zeros(2)}, "ckpt/0.pt")
    assert not list((work / ".atlas").glob("train.*.link"))
