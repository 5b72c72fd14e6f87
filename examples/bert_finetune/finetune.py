"""Step finetune: fine-tune a tiny BERT on the train split, attested from inside the Trainer.

The model is built from bert-tiny/config.json (2 layers, hidden size 128; random initial
weights, nothing downloaded) with the tokenizer trained by the tokenize step. Checkpoints go to
model/checkpoints/checkpoint-N after every epoch, the final model and tokenizer to model/final.

Attestation is configured by the pipeline through the environment, so that the command the link
records is exactly ``python finetune.py --epochs N``: ATLAS_CASE_KEY (functionary key; unset =
no attestation), ATLAS_CASE_TEE, ATLAS_CASE_C2PA (1/0), ATLAS_CASE_LOG (log URL),
ATLAS_CASE_OUT (evidence directory).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    PreTrainedTokenizerFast,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

TRAIN_FILE = "data/train-00000.jsonl"
TOKENIZER_FILE = "data/tokenizer.json"
CONFIG_FILE = "bert-tiny/config.json"
CHECKPOINTS = "model/checkpoints"
FINAL = "model/final"
MAX_LENGTH = 48


def load_tokenizer(path: str = TOKENIZER_FILE) -> Any:
    return PreTrainedTokenizerFast(
        tokenizer_file=path,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=MAX_LENGTH,
    )


class Encoded(torch.utils.data.Dataset):  # type: ignore[misc]
    """A JSONL split, tokenised once up front."""

    def __init__(self, path: str, tokenizer: Any) -> None:
        rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
        self.encoding = tokenizer(
            [row["text"] for row in rows],
            padding="max_length",
            truncation=True,
            max_length=MAX_LENGTH,
            return_tensors="pt",
        )
        self.labels = torch.tensor([row["label"] for row in rows])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {key: value[index] for key, value in self.encoding.items()}
        item["labels"] = self.labels[index]
        return item


class EpochTimer(TrainerCallback):  # type: ignore[misc]
    """Wall time of every epoch including its checkpoint save and every other callback's
    on_save (the benchmark's measure): the Trainer saves after on_epoch_end, so an epoch is
    timed from on_epoch_begin to on_save. Put this callback last."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._began = 0.0

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._began = time.perf_counter()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.seconds.append(time.perf_counter() - self._began)


def finetune(
    *,
    epochs: int,
    callbacks: Sequence[Any] = (),
    seed: int = 0,
    batch_size: int = 32,
    save_final: bool = True,
) -> Trainer:
    """Train; checkpoints every epoch. ``save_final`` saves model/final here (unless a callback
    does it, as the attestation callback with ``final_dir`` does)."""
    torch.manual_seed(seed)
    tokenizer = load_tokenizer()
    config = BertConfig.from_pretrained(CONFIG_FILE)
    model = BertForSequenceClassification(config)
    args = TrainingArguments(
        output_dir=CHECKPOINTS,
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=1e-3,
        save_strategy="epoch",
        logging_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Encoded(TRAIN_FILE, tokenizer),
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    trainer.train()
    if save_final:
        trainer.save_model(FINAL)
    return trainer


def attestation_callback(argv: Sequence[str]) -> Any:
    """The AtlasCallback configured from the environment, or None when ATLAS_CASE_KEY is unset."""
    key = os.environ.get("ATLAS_CASE_KEY")
    if not key:
        return None
    from atlas_intoto.integrations.hf import AtlasCallback
    from atlas_intoto.recording import RecordingOptions

    options = RecordingOptions(
        key_path=Path(key),
        out_dir=Path(os.environ.get("ATLAS_CASE_OUT", ".atlas")),
        tee=os.environ.get("ATLAS_CASE_TEE", "none"),
        c2pa=os.environ.get("ATLAS_CASE_C2PA", "0") == "1",
        log_url=os.environ.get("ATLAS_CASE_LOG") or None,
    )
    return AtlasCallback(
        step="finetune",
        options=options,
        dataset_files=[TRAIN_FILE],
        tokenizer_files=[TOKENIZER_FILE],
        config_files=[CONFIG_FILE],
        code_files=["finetune.py"],
        command=["python", "finetune.py", *argv],
        final_dir=FINAL,
    )


def main(argv: Sequence[str] | None = None) -> None:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description="fine-tune the tiny BERT")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    callback = attestation_callback(argv)
    timer = EpochTimer()
    finetune(
        epochs=args.epochs,
        callbacks=[*([callback] if callback else []), timer],
        save_final=callback is None,
    )
    epochs = ", ".join(f"{s:.1f}s" for s in timer.seconds)
    print(f"fine-tuned {args.epochs} epochs ({epochs}); model in {FINAL}")


if __name__ == "__main__":
    main()
