"""The Kubeflow vision pipeline's components and its pipeline definition (KFP v2).

Each component is a KFP lightweight component: KFP ships its *source*, so every import is inside
its body. Four are wrapped by :func:`atlas_intoto.integrations.kubeflow.attested_component`;
``train`` records itself from inside its training loop with the PyTorch integration
(:func:`atlas_intoto.integrations.torch.attested_training`: every epoch's checkpoint attested in
the background, the run's link at the end) and declares its own ``atlas_evidence`` output.
Inputs named ``atlas_upstream_*`` are the producers' evidence artifacts: their C2PA manifests
become the ingredients of this step's manifests.

The recording options hold absolute paths (keys, the pipeline root as base path, the log URL),
so the components are built by :func:`build_pipeline` for one deployment, not at import.
"""

# No ``from __future__ import annotations``: KFP reads the components' annotations as types.
import json
from collections.abc import Callable
from typing import Any

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from atlas_intoto.integrations.kubeflow import attested_component
from atlas_intoto.recording import RecordingOptions

#: The CNN's input size and classes (generated images: horizontal bar, vertical bar, square).
SIZE = 12
CLASSES = ("horizontal", "vertical", "square")
PIPELINE_NAME = "atlas-intoto-kubeflow-vision"


def generate_images(images: Output[Dataset], count: int = 240, seed: int = 7):
    """Generate a small labelled image dataset (no download): 12×12 8-bit grayscale PGM images
    of a horizontal bar, a vertical bar or a square outline, with noise, labels in the file
    names, in one tar archive (one artifact to attest, however many images)."""
    import io
    import random
    import tarfile

    size, rng = 12, random.Random(seed)
    with tarfile.open(images.path, "w", format=tarfile.PAX_FORMAT) as archive:
        for index in range(count):
            label = index % 3
            pixels = [[rng.randint(0, 60) for _ in range(size)] for _ in range(size)]
            a, b = rng.randint(1, size - 5), rng.randint(1, size - 5)
            if label == 0:
                cells = [(a, x) for x in range(2, size - 2)]
            elif label == 1:
                cells = [(y, b) for y in range(2, size - 2)]
            else:
                cells = [
                    (a + i, b + j) for i in range(4) for j in range(4) if i in (0, 3) or j in (0, 3)
                ]
            for y, x in cells:
                pixels[y][x] = rng.randint(180, 255)
            body = b"P5\n%d %d\n255\n" % (size, size) + bytes(v for row in pixels for v in row)
            # Fixed metadata: the same seed gives the same archive, byte for byte.
            member = tarfile.TarInfo(f"{index:05d}-{label}.pgm")
            member.size, member.mtime, member.mode = len(body), 0, 0o644
            archive.addfile(member, io.BytesIO(body))


def preprocess(
    images: Input[Dataset],
    atlas_upstream_generate: Input[Artifact],
    train_data: Output[Dataset],
    test_data: Output[Dataset],
    test_share: float = 0.25,
):
    """Decode the PGM images, scale to [0, 1], split deterministically into safetensors files."""
    import tarfile

    import torch
    from safetensors.torch import save_file

    tensors, labels = [], []
    with tarfile.open(images.path) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            handle = archive.extractfile(member)
            if handle is None:
                raise ValueError(f"{member.name}: not a regular file")
            magic, dims, depth, body = handle.read().split(b"\n", 3)
            width, height = (int(v) for v in dims.split())
            if magic != b"P5" or depth != b"255" or len(body) != width * height:
                raise ValueError(f"{member.name}: not an 8-bit binary PGM image")
            pixels = torch.frombuffer(bytearray(body), dtype=torch.uint8)
            tensors.append(pixels.view(1, height, width))
            labels.append(int(member.name.rsplit("-", 1)[1].split(".")[0]))
    x = torch.stack(tensors).float() / 255.0
    y = torch.tensor(labels, dtype=torch.int64)
    test = torch.arange(len(y)) % round(1 / test_share) == 0
    save_file({"x": x[~test].contiguous(), "y": y[~test].contiguous()}, train_data.path)
    save_file({"x": x[test].contiguous(), "y": y[test].contiguous()}, test_data.path)


def train(
    train_data: Input[Dataset],
    atlas_upstream_preprocess: Input[Artifact],
    model: Output[Model],
    atlas_evidence: Output[Artifact],
    recording: str,
    epochs: int = 3,
    seed: int = 0,
):
    """Train a small CNN; recorded as step ``train`` by the PyTorch integration: each epoch's
    checkpoint attested in the background, the final weights in the run's link."""
    import json
    import os
    from pathlib import Path

    import torch
    from safetensors.torch import load_file

    from atlas_intoto.integrations.kubeflow import ship_upstream_manifests
    from atlas_intoto.integrations.torch import attested_training
    from atlas_intoto.recording import RecordingOptions

    options = RecordingOptions.from_dict(json.loads(recording)).with_changes(
        out_dir=Path(atlas_evidence.path)
    )
    ship_upstream_manifests([atlas_upstream_preprocess], options.out_dir)
    torch.manual_seed(seed)
    data = load_file(train_data.path)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 3 * 3, 3),
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=0.005)
    command = ["kfp-component", "train"]
    with attested_training(
        step="train", options=options, materials=[train_data.path], command=command
    ) as run:
        for epoch in range(1, epochs + 1):
            order = torch.randperm(len(data["y"]))
            for start in range(0, len(order), 8):
                batch = order[start : start + 8]
                optimiser.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(data["x"][batch]), data["y"][batch])
                loss.backward()
                optimiser.step()
            run.save_model(
                net, os.path.join(model.path, "checkpoints", f"epoch-{epoch}.safetensors")
            )
        run.save_model(net, os.path.join(model.path, "final", "model.safetensors"), final=True)


def evaluate(
    test_data: Input[Dataset],
    model: Input[Model],
    atlas_upstream_preprocess: Input[Artifact],
    atlas_upstream_train: Input[Artifact],
    evaluation: Output[Artifact],
):
    """Accuracy of the final model on the held-out split, overall and per class (JSON)."""
    import json
    import os

    import torch
    from safetensors.torch import load_file

    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 3 * 3, 3),
    )
    net.load_state_dict(load_file(os.path.join(model.path, "final", "model.safetensors")))
    data = load_file(test_data.path)
    with torch.no_grad():
        predicted = net(data["x"]).argmax(dim=1)
    correct = predicted == data["y"]
    per_class = {
        str(label): float(correct[data["y"] == label].float().mean()) for label in range(3)
    }
    metrics = {
        "accuracy": float(correct.float().mean()),
        "examples": len(data["y"]),
        "per_class_accuracy": per_class,
    }
    with open(evaluation.path, "w") as handle:
        json.dump(metrics, handle, sort_keys=True)


def package(
    model: Input[Model],
    evaluation: Input[Artifact],
    atlas_upstream_train: Input[Artifact],
    atlas_upstream_evaluate: Input[Artifact],
    release: Output[Model],
):
    """The release: the final weights and a model card with the evaluation's numbers."""
    import json
    import os
    import shutil

    os.makedirs(release.path, exist_ok=True)
    shutil.copyfile(
        os.path.join(model.path, "final", "model.safetensors"),
        os.path.join(release.path, "model.safetensors"),
    )
    with open(evaluation.path) as handle:
        metrics = json.load(handle)
    with open(os.path.join(release.path, "MODEL_CARD.md"), "w") as handle:
        handle.write(
            "# Shape classifier (small CNN)\n\n"
            "Classifies 12x12 grayscale images as horizontal bar, vertical bar or square.\n"
            f"Test accuracy {metrics['accuracy']:.3f} on {metrics['examples']} held-out images.\n\n"
            "Provenance: verify kubeflow-vision.atlas.json with atlas-intoto and the owner key.\n"
        )


def poison(clean: Input[Dataset], train_data: Output[Dataset]):
    """The attack (not attested: the attacker's own task, wired in between preprocess and
    train): a backdoored copy of the training split, every square relabelled a horizontal bar."""
    from safetensors.torch import load_file, save_file

    data = load_file(clean.path)
    data["y"][data["y"] == 2] = 0
    save_file(data, train_data.path)


def build_pipeline(
    options: Callable[[str], RecordingOptions], *, poisoned: bool = False, **component: Any
) -> Any:
    """The pipeline, its components recorded with ``options(functionary)`` (base path: the
    pipeline root); ``poisoned`` hands train the attacker's copy of the training split.
    ``component``: ``dsl.component`` arguments (image, packages)."""

    def attested(func: Any, functionary: str) -> Any:
        return attested_component(func, options=options(functionary), **component)

    generate_op = attested(generate_images, "data-eng")
    preprocess_op = attested(preprocess, "data-eng")
    evaluate_op = attested(evaluate, "evaluator")
    package_op = attested(package, "release")
    train_op = dsl.component(train, **component)
    poison_op = dsl.component(poison, **component)
    recording = json.dumps(options("trainer").to_dict(), sort_keys=True)

    @dsl.pipeline(name=PIPELINE_NAME)
    def vision(count: int = 240, epochs: int = 3):
        images = generate_op(count=count)
        split = preprocess_op(
            images=images.outputs["images"],
            atlas_upstream_generate=images.outputs["atlas_evidence"],
        )
        train_data = split.outputs["train_data"]
        if poisoned:
            train_data = poison_op(clean=train_data).outputs["train_data"]
        training = train_op(
            train_data=train_data,
            atlas_upstream_preprocess=split.outputs["atlas_evidence"],
            recording=recording,
            epochs=epochs,
        )
        scored = evaluate_op(
            test_data=split.outputs["test_data"],
            model=training.outputs["model"],
            atlas_upstream_preprocess=split.outputs["atlas_evidence"],
            atlas_upstream_train=training.outputs["atlas_evidence"],
        )
        package_op(
            model=training.outputs["model"],
            evaluation=scored.outputs["evaluation"],
            atlas_upstream_train=training.outputs["atlas_evidence"],
            atlas_upstream_evaluate=scored.outputs["atlas_evidence"],
        )

    return vision
