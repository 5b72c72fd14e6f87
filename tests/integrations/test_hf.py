"""Hugging Face integration: AtlasCallback inside a real (tiny) Trainer run."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from atlas_intoto.errors import UsageError  # noqa: E402
from atlas_intoto.integrations.hf import AtlasCallback  # noqa: E402
from atlas_intoto.keys import generate_keypair  # noqa: E402
from atlas_intoto.recording import RecordingOptions  # noqa: E402


def _payload(link: Path) -> dict[str, Any]:
    return json.loads(base64.b64decode(json.loads(link.read_bytes())["payload"]))  # type: ignore[no-any-return]


class _Rows(torch.utils.data.Dataset):  # type: ignore[misc]
    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(5, 60, (n, 12), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones(12, dtype=torch.long),
            "labels": self.labels[i],
        }


def _trainer(work: Path, callback: AtlasCallback, **args: Any) -> Any:
    config = transformers.BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=16,
        num_labels=2,
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    arguments = transformers.TrainingArguments(
        output_dir=str(work / "runs"),
        num_train_epochs=2,
        per_device_train_batch_size=8,
        save_strategy="epoch",
        logging_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        **args,
    )
    return transformers.Trainer(
        model=model, args=arguments, train_dataset=_Rows(16), callbacks=[callback]
    )


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    generate_keypair("trainer", directory=tmp_path / "keys")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"text": "x", "label": 0}\n')
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "finetune.json").write_text('{"epochs": 2}')
    return tmp_path


def _callback(work: Path, **kwargs: Any) -> AtlasCallback:
    return AtlasCallback(
        step="finetune",
        options=RecordingOptions(key_path=work / "keys" / "trainer.key", base_path=work),
        dataset_files=["data/train.jsonl"],
        tokenizer_files=["tokenizer.json"],
        config_files=["finetune.json"],
        **kwargs,
    )


def test_trainer_run_is_recorded_with_checkpoints_and_final_model(work: Path) -> None:
    callback = _callback(work, final_dir="model")
    _trainer(work, callback).train()
    assert callback.result is not None
    link = _payload(callback.result.link_path)
    assert link["name"] == "finetune"
    assert set(link["materials"]) == {"data/train.jsonl", "tokenizer.json", "finetune.json"}
    products = set(link["products"])
    # 16 rows / batch 8 = 2 steps per epoch: checkpoints at steps 2 and 4.
    assert "runs/checkpoint-2/model.safetensors" in products
    assert "runs/checkpoint-4/model.safetensors" in products
    assert "model/model.safetensors" in products and "model/config.json" in products
    checkpoint_links = sorted((work / ".atlas" / "checkpoints").glob("*.link"))
    assert [p.name.split(".")[0] for p in checkpoint_links] == [
        "finetune-checkpoint-1",
        "finetune-checkpoint-2",
    ]
    first = _payload(checkpoint_links[0])
    assert all(name.startswith("runs/checkpoint-2/") for name in first["products"])
    for name, digest in first["products"].items():
        assert link["products"][name] == digest


def test_finish_after_saving_the_model_yourself(work: Path) -> None:
    callback = _callback(work, finish_on_train_end=False)
    trainer = _trainer(work, callback)
    trainer.train()
    assert callback.result is None
    trainer.save_model("export")
    recorded = callback.finish(["export"])
    assert "export/model.safetensors" in recorded.products


def test_save_total_limit_is_refused(work: Path) -> None:
    callback = _callback(work)
    with pytest.raises(UsageError, match="save_total_limit=1"):
        _trainer(work, callback, save_total_limit=1).train()
