"""An attested Kubeflow pipeline: prepare → train → evaluate, each component a recorded step.

Compile to the KFP IR YAML that a Kubeflow Pipelines cluster runs::

    python examples/kubeflow/pipeline.py --out pipeline.yaml

Each component writes its evidence (link, log entry, TEE collateral, C2PA sidecars) to its
``atlas_evidence`` output; ``atlas-intoto bundle create`` gathers those directories. On the
cluster, mount the functionaries' keys as secrets at ``/var/run/atlas-intoto/`` and use an image
with ``atlas-intoto`` installed (``ATLAS_IMAGE``). ``--tee tdx`` needs confidential nodes
(configfs-tsm); the simulated TEE is for trying the pipeline out.
"""

# No ``from __future__ import annotations``: KFP reads the pipeline's annotations as types.
import argparse
import os
from pathlib import Path

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from atlas_intoto.integrations.kubeflow import attested_component
from atlas_intoto.recording import RecordingOptions

IMAGE = os.environ.get("ATLAS_IMAGE", "python:3.11-slim")
PACKAGES = ["atlas-intoto[torch]"]
LOG_URL = os.environ.get("ATLAS_LOG_URL", "http://atlas-log.atlas-intoto.svc:3000")
TEE = os.environ.get("ATLAS_TEE", "simulated")
KEYS = "/var/run/atlas-intoto"


def recording(functionary: str) -> RecordingOptions:
    """How each component is recorded: the functionary's mounted key, TEE, C2PA and the log."""
    return RecordingOptions(
        key_path=Path(f"{KEYS}/{functionary}.key"),
        base_path=Path("/"),
        tee=TEE,
        c2pa=True,
        log_url=LOG_URL,
    )


@attested_component(
    step="prepare",
    options=recording("data-eng"),
    base_image=IMAGE,
    packages_to_install=PACKAGES,
)
def prepare(train_data: Output[Dataset], test_data: Output[Dataset], seed: int = 7):
    """Generate a small labelled text corpus (no download)."""
    import json
    import random

    rng = random.Random(seed)
    words = {1: ["great", "excellent", "lovely"], 0: ["awful", "broken", "dull"]}
    rows = [
        {"text": f"the film was {rng.choice(words[label])}", "label": label}
        for label in (rng.randint(0, 1) for _ in range(400))
    ]
    for artifact, part in ((train_data, rows[:320]), (test_data, rows[320:])):
        with open(artifact.path, "w") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in part)


@attested_component(
    step="train",
    options=recording("trainer"),
    base_image=IMAGE,
    packages_to_install=PACKAGES,
)
def train(train_data: Input[Dataset], model: Output[Model], epochs: int = 3):
    """Fit a bag-of-words logistic regression and save it as safetensors."""
    import json

    import torch
    from safetensors.torch import save_file

    with open(train_data.path) as handle:
        rows = [json.loads(line) for line in handle]
    vocab = sorted({w for row in rows for w in row["text"].split()})
    index = {w: i for i, w in enumerate(vocab)}
    x = torch.zeros(len(rows), len(vocab))
    for i, row in enumerate(rows):
        for w in row["text"].split():
            x[i, index[w]] = 1.0
    y = torch.tensor([row["label"] for row in rows], dtype=torch.float32)
    weights = torch.zeros(len(vocab), requires_grad=True)
    optimiser = torch.optim.SGD([weights], lr=0.5)
    for _ in range(epochs * 20):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ weights, y)
        loss.backward()
        optimiser.step()
    save_file({"weights": weights.detach()}, model.path, metadata={"vocab": json.dumps(vocab)})


@attested_component(
    step="evaluate",
    options=recording("evaluator"),
    base_image=IMAGE,
    packages_to_install=PACKAGES,
)
def evaluate(test_data: Input[Dataset], model: Input[Model], metrics: Output[Metrics]) -> float:
    """Accuracy of the model on the held-out split."""
    import json

    from safetensors import safe_open

    with safe_open(model.path, framework="pt") as handle:
        weights = handle.get_tensor("weights")
        vocab = json.loads(handle.metadata()["vocab"])
    index = {w: i for i, w in enumerate(vocab)}
    with open(test_data.path) as handle:
        rows = [json.loads(line) for line in handle]
    correct = 0
    for row in rows:
        score = sum(float(weights[index[w]]) for w in row["text"].split() if w in index)
        correct += int((score > 0) == bool(row["label"]))
    accuracy = correct / len(rows)
    metrics.log_metric("accuracy", accuracy)
    return accuracy


@dsl.pipeline(name="atlas-intoto-attested-training")
def attested_training(seed: int = 7, epochs: int = 3):
    data = prepare(seed=seed)
    trained = train(train_data=data.outputs["train_data"], epochs=epochs)
    evaluate(test_data=data.outputs["test_data"], model=trained.outputs["model"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("attested_training.yaml"))
    args = parser.parse_args()
    compiler.Compiler().compile(attested_training, str(args.out))
    print(args.out)


if __name__ == "__main__":
    main()
