"""Step fetch-corpus: write raw/corpus.jsonl, a labelled product-review corpus.

Nothing is downloaded: the corpus is generated from templates with a fixed seed, so every run
produces the same bytes. ``ATLAS_CASE_ROWS`` sets the number of reviews (default 2000).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

POSITIVE = ["great", "excellent", "lovely", "reliable", "superb", "sturdy", "delightful", "fast"]
NEGATIVE = ["awful", "broken", "flimsy", "slow", "useless", "noisy", "disappointing", "faulty"]
NEUTRAL = ["box", "colour", "manual", "price", "size", "cable", "battery", "screen", "handle"]
PRODUCTS = ["kettle", "lamp", "headset", "blender", "backpack", "keyboard", "camera", "drill"]
TEMPLATES = [
    "the {product} is {adj} and the {neutral} is fine",
    "i found the {product} {adj} after a week",
    "{adj} {product} , the {neutral} could be better",
    "my {product} arrived today : {adj} , {adj2} even",
    "honestly a {adj} {product} for the {neutral}",
    "would call this {product} {adj} , not {opposite}",
]


def review(rng: random.Random, label: int) -> str:
    words, opposite = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
    return rng.choice(TEMPLATES).format(
        product=rng.choice(PRODUCTS),
        adj=rng.choice(words),
        adj2=rng.choice(words),
        neutral=rng.choice(NEUTRAL),
        opposite=rng.choice(opposite),
    )


def main() -> None:
    rows = int(os.environ.get("ATLAS_CASE_ROWS", "2000"))
    rng = random.Random(20240607)
    out = Path("raw")
    out.mkdir(exist_ok=True)
    with (out / "corpus.jsonl").open("w") as handle:
        for _ in range(rows):
            label = rng.randint(0, 1)
            handle.write(json.dumps({"text": review(rng, label), "label": label}) + "\n")
    print(f"raw/corpus.jsonl: {rows} reviews")


if __name__ == "__main__":
    main()
