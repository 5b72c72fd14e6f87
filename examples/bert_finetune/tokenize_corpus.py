"""Step tokenize: train a WordPiece tokenizer on the corpus and split it into train/test.

Writes data/tokenizer.json (trained here with ``tokenizers``; no pretrained vocabulary is
fetched), data/train-00000.jsonl and data/test-00000.jsonl (80/20, fixed seed).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

VOCAB_SIZE = 2000
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_tokenizer(texts: list[str]) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tokenizer


def main() -> None:
    rows = [json.loads(line) for line in Path("raw/corpus.jsonl").read_text().splitlines()]
    random.Random(7).shuffle(rows)
    cut = int(len(rows) * 0.8)
    out = Path("data")
    out.mkdir(exist_ok=True)
    for name, part in (("train-00000.jsonl", rows[:cut]), ("test-00000.jsonl", rows[cut:])):
        (out / name).write_text("".join(json.dumps(row) + "\n" for row in part))
    train_tokenizer([row["text"] for row in rows[:cut]]).save(str(out / "tokenizer.json"))
    print(f"data/: {cut} train, {len(rows) - cut} test rows; tokenizer.json")


if __name__ == "__main__":
    main()
