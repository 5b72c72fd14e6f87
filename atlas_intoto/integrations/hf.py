"""Attest a Hugging Face ``Trainer`` run with a ``TrainerCallback``.

```python
options = RecordingOptions(key_path=Path("keys/trainer.key"), tee="simulated", c2pa=True,
                           log_url=LOG)
callback = AtlasCallback(step="finetune", options=options,
                         dataset_files=["data/train.jsonl"], tokenizer_files=["tokenizer/"],
                         config_files=["finetune.json"], code_files=["finetune.py"],
                         final_dir="model")
Trainer(model=..., args=TrainingArguments(..., save_strategy="epoch"),
        callbacks=[callback]).train()
callback.result        # the RecordedStep of the whole run
```

``on_train_begin`` measures the materials; ``on_save`` hands each ``checkpoint-N`` directory to
the background attestation worker; ``on_train_end`` saves the final model (and tokenizer) to
``final_dir`` in safetensors format, waits for pending attestations and writes the run's link
with every checkpoint and the final model as products. A failed attestation raises from
``trainer.train()``. Only the main process (``state.is_world_process_zero``) records.

``save_total_limit`` is refused: the Trainer would delete checkpoints the link must list.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from atlas_intoto.errors import UsageError
from atlas_intoto.integrations.training import PathLike, TrainingRun
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import RecordedStep

#: Trainer's checkpoint folder prefix (transformers.trainer_utils.PREFIX_CHECKPOINT_DIR).
CHECKPOINT_PREFIX = "checkpoint"


class AtlasCallback(TrainerCallback):  # type: ignore[misc]  # transformers is untyped here
    """Record a ``Trainer`` run as one attested step (see the module docstring), signed,
    measured and attested as ``options`` say."""

    def __init__(
        self,
        *,
        step: str,
        options: RecordingOptions,
        dataset_files: Sequence[PathLike] = (),
        tokenizer_files: Sequence[PathLike] = (),
        config_files: Sequence[PathLike] = (),
        code_files: Sequence[PathLike] = (),
        materials: Sequence[PathLike] = (),
        command: Sequence[str] = (),
        final_dir: PathLike | None = None,
        save_tokenizer: bool = True,
        finish_on_train_end: bool = True,
        attest_checkpoints: bool = True,
        checkpoint_dir: Path | None = None,
        worker: str = "thread",
        checkpoint_c2pa: bool = False,
    ) -> None:
        self.final_dir = final_dir
        self.save_tokenizer = save_tokenizer
        self.finish_on_train_end = finish_on_train_end
        self.run = TrainingRun(
            step=step,
            options=options,
            materials=[*dataset_files, *tokenizer_files, *config_files, *code_files, *materials],
            command=command,
            attest_checkpoints=attest_checkpoints,
            checkpoint_dir=checkpoint_dir,
            worker=worker,
            checkpoint_c2pa=checkpoint_c2pa,
        )
        self.result: RecordedStep | None = None

    # -- Trainer events -------------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        if args.save_total_limit is not None:
            raise UsageError(
                f"TrainingArguments.save_total_limit={args.save_total_limit}: attested training "
                "keeps every checkpoint (the link lists them); unset it"
            )
        self.run.start()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self.run.checkpoint(
            os.path.join(args.output_dir, f"{CHECKPOINT_PREFIX}-{state.global_step}")
        )

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        try:
            if self.final_dir is not None:
                self._save_final(kwargs.get("model"), kwargs.get("processing_class"))
        except BaseException:
            self.run.abort()
            raise
        if self.finish_on_train_end:
            self.finish()
        else:
            self.run.wait()

    # -- outside the Trainer --------------------------------------------------------------------

    def finish(self, products: Sequence[PathLike] = ()) -> RecordedStep:
        """Write the run's link; with ``finish_on_train_end=False`` call this after saving the
        final model yourself, passing its paths."""
        for path in products:
            self.run.add_product(path)
        self.result = self.run.finish()
        return self.result

    def abort(self) -> None:
        """Training failed outside the callback's view: drop pending work, write no link."""
        self.run.abort()

    def _save_final(self, model: Any, processing_class: Any) -> None:
        if model is None:
            raise UsageError(f"final_dir {self.final_dir}: the Trainer passed no model to save")
        final = Path(os.fspath(self.final_dir))  # type: ignore[arg-type]
        model.save_pretrained(final)
        if self.save_tokenizer and processing_class is not None:
            processing_class.save_pretrained(final)
        self.run.add_product(final)
