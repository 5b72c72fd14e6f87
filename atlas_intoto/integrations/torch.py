"""Attest a PyTorch training run from inside the training script.

```python
from atlas_intoto.integrations.torch import attested_training
from atlas_intoto.recording import RecordingOptions

options = RecordingOptions(key_path=Path("keys/trainer.key"), tee="simulated", c2pa=True,
                           log_url=LOG)
with attested_training(step="train", options=options,
                       materials=["data/train.jsonl", "config.json", "train.py"]) as run:
    for epoch in range(epochs):
        ...
        run.save(model.state_dict(), f"ckpt/epoch-{epoch}.pt")           # torch.save
        run.save_safetensors(model.state_dict(), f"ckpt/epoch-{epoch}.safetensors")
    run.save_model(model, "model/model.safetensors", final=True)          # final weights
# leaving the block waits for the background attestations and writes train.<keyid8>.link
```

The training loop pays for the save itself and for a queue insertion; measuring, quoting, signing
and log publishing of each checkpoint run on the background worker of
:class:`~atlas_intoto.integrations.training.TrainingRun` (``worker``, ``checkpoint_c2pa``: see
there). If the block raises, pending work is
dropped and no link is written. ``torch`` and ``safetensors`` are imported only by the save
helpers (extra ``[torch]``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from atlas_intoto.errors import FeatureUnavailableError
from atlas_intoto.integrations.training import PathLike, TrainingRun
from atlas_intoto.recording import RecordingOptions


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FeatureUnavailableError(
            f"{module} is not installed (pip install 'atlas-intoto[torch]')"
        ) from exc


class AttestedTraining(TrainingRun):
    """A :class:`TrainingRun` with PyTorch save helpers that attest what they save."""

    def _save_then(self, path: PathLike, *, final: bool) -> None:
        if final:
            self.add_product(path)
        else:
            self.checkpoint(path)

    @staticmethod
    def _parent(path: PathLike) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)

    def save(self, obj: Any, path: PathLike, *, final: bool = False, **kwargs: Any) -> None:
        """``torch.save(obj, path)``, then attest ``path`` (as a checkpoint, or as final
        weights with ``final=True``, which the run's link records without a link of its own)."""
        torch = _require("torch")
        self._parent(path)
        torch.save(obj, os.fspath(path), **kwargs)
        self._save_then(path, final=final)

    def save_safetensors(
        self,
        tensors: Mapping[str, Any],
        path: PathLike,
        *,
        metadata: Mapping[str, str] | None = None,
        final: bool = False,
    ) -> None:
        """``safetensors.torch.save_file(tensors, path)``, then attest ``path``."""
        st = _require("safetensors.torch")
        self._parent(path)
        st.save_file(dict(tensors), os.fspath(path), metadata=dict(metadata or {}) or None)
        self._save_then(path, final=final)

    def save_model(self, model: Any, path: PathLike, *, final: bool = False) -> None:
        """``safetensors.torch.save_model(model, path)`` (handles tied weights), then attest."""
        st = _require("safetensors.torch")
        self._parent(path)
        st.save_model(model, os.fspath(path))
        self._save_then(path, final=final)


@contextmanager
def attested_training(
    *,
    step: str,
    options: RecordingOptions,
    command: Sequence[str] = (),
    materials: Sequence[PathLike] = (),
    checkpoint_dir: Path | None = None,
    attest_checkpoints: bool = True,
    worker: str = "thread",
    checkpoint_c2pa: bool = False,
) -> Iterator[AttestedTraining]:
    """Record the enclosed training as step ``step`` (see the module docstring), signed,
    measured and attested as ``options`` say.

    On normal exit the run's link is written (``run.result`` holds the RecordedStep); if a
    background attestation failed, :class:`~atlas_intoto.errors.AttestationFailedError` is
    raised instead and no link is written. If the block raises, nothing is recorded.
    """
    run = AttestedTraining(
        step=step,
        options=options,
        materials=materials,
        command=command,
        attest_checkpoints=attest_checkpoints,
        checkpoint_dir=checkpoint_dir,
        worker=worker,
        checkpoint_c2pa=checkpoint_c2pa,
    )
    run.start()
    try:
        yield run
    except BaseException:
        run.abort()
        raise
    run.finish()
