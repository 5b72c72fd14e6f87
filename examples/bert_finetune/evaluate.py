"""Step evaluate: accuracy and per-class counts of model/final on the test split.

Writes eval/metrics.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import BertForSequenceClassification, PreTrainedTokenizerFast

TEST_FILE = "data/test-00000.jsonl"
MODEL = "model/final"


def main() -> None:
    tokenizer = PreTrainedTokenizerFast.from_pretrained(MODEL)
    model = BertForSequenceClassification.from_pretrained(MODEL).eval()
    rows = [json.loads(line) for line in Path(TEST_FILE).read_text().splitlines()]
    labels = torch.tensor([row["label"] for row in rows])
    predictions = []
    with torch.no_grad():
        for start in range(0, len(rows), 64):
            batch = tokenizer(
                [row["text"] for row in rows[start : start + 64]],
                padding=True,
                truncation=True,
                max_length=48,
                return_tensors="pt",
            )
            predictions.append(model(**batch).logits.argmax(dim=-1))
    predicted = torch.cat(predictions)
    metrics = {
        "examples": len(rows),
        "accuracy": round(float((predicted == labels).float().mean()), 4),
        "true_positive": int(((predicted == 1) & (labels == 1)).sum()),
        "true_negative": int(((predicted == 0) & (labels == 0)).sum()),
        "false_positive": int(((predicted == 1) & (labels == 0)).sum()),
        "false_negative": int(((predicted == 0) & (labels == 1)).sum()),
    }
    Path("eval").mkdir(exist_ok=True)
    Path("eval/metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"eval/metrics.json: accuracy {metrics['accuracy']}")


if __name__ == "__main__":
    main()
