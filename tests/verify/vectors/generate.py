"""Regenerate the verifier's failing vectors: one JSON file per attack of tests/verify/attacks.py,
plus ``untampered.json`` (must verify). Fixed keys: the key pairs, dev CA, log key and the
simulated TEE platform seed under ``tests/verify/vectors/keys`` (created on the first run, then
reused), so regenerating changes only signatures, timestamps and nonces.

    .venv/bin/python tests/verify/vectors/generate.py
    .venv/bin/python tests/verify/vectors/generate.py --only NAME [NAME ...]

``--only`` writes just the named attacks, each as a whole bundle ("bundle" instead of "patch",
and every file of its artifacts directory), leaving ``untampered.json`` and the other vectors as
they are: the committed vectors are bundles of evidence-version-1 links that must keep
verifying, and attacks on later link formats need a base recorded by this release.

``untampered.json``: {"attack", "description", "expected": {"ok": true}, "now", "layout_keys": [PEM],
"bundle": <bundle JSON>, "artifacts": {path: base64}}. Each attack vector has the same fields but,
instead of "bundle", "patch": the edits that turn the untampered bundle into the tampered one
([{"op": "set", "path": [...], "value": ...} | {"op": "delete", "path": [...]}]), and "expected":
{"check", "error"}. ``now`` is the generation time: verifying at it keeps expiry and TEE collateral
windows reproducible.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

PLATFORM_SEED = b"atlas-intoto verify vectors v1"


def diff(old: object, new: object, path: tuple[object, ...] = ()) -> list[dict[str, object]]:
    """Edits turning ``old`` into ``new``: recurse into objects, replace anything else whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        ops: list[dict[str, object]] = []
        for key in old:
            if key not in new:
                ops.append({"op": "delete", "path": [*path, key]})
        for key, value in new.items():
            if key not in old:
                ops.append({"op": "set", "path": [*path, key], "value": value})
            else:
                ops.extend(diff(old[key], value, (*path, key)))
        return ops
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            op
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for op in diff(a, b, (*path, i))
        ]
    return [] if old == new else [{"op": "set", "path": list(path), "value": new}]


def _write_vector(name: str, doc: dict[str, object]) -> None:
    (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _artifacts(root: Path | None, *, whole: bool) -> dict[str, str] | None:
    if root is None:
        return None
    files = root.rglob("*") if whole else (root / "dist").rglob("*")
    return {
        str(p.relative_to(root)): base64.b64encode(p.read_bytes()).decode()
        for p in sorted(files)
        if p.is_file()
    }


def main(only: tuple[str, ...] = ()) -> None:
    from attacks import ATTACKS, Ctx
    from bundle_builder import KEY_NAMES, build_pipeline, make_keys

    from atlas_intoto.demo import embedded_log
    from atlas_intoto.tee.simulated import default_directory, generate_platform, platform_files

    keys = HERE / "keys"
    if not (keys / "owner.key").exists():
        make_keys(keys)
    assert all((keys / f"{n}.key").exists() for n in KEY_NAMES)
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="atlas-vectors-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["ATLAS_INTOTO_HOME"] = str(tmp / "home")
        platform = generate_platform(now=now, seed=PLATFORM_SEED)
        sim = default_directory(tmp / "home")
        sim.mkdir(parents=True)
        for name, data in platform_files(platform).items():
            (sim / name).write_bytes(data)
        (tmp / "sim-root.pem").write_bytes(platform.root_pem)
        with embedded_log(tmp / "log", key_path=keys / "log.key") as log:
            (tmp / "log.pub").write_bytes(log.public_key_pem)
            base = build_pipeline(
                tmp / "base",
                tee=True,
                c2pa=True,
                log_url=log.url,
                log_key=tmp / "log.pub",
                tee_root_pem=tmp / "sim-root.pem",
                mrtd=platform.mr_td.hex(),
                keys=keys,
            )
            owner = base.owner_pem.decode()
            if not only:
                _write_untampered(base, now, owner)
            for attack in ATTACKS:
                if only and attack.name not in only:
                    continue
                scratch = tmp / "attacks" / attack.name
                scratch.mkdir(parents=True)
                case = attack.build(
                    Ctx(
                        base=base,
                        tmp=scratch,
                        sim_root=tmp / "sim-root.pem",
                        mrtd=platform.mr_td.hex(),
                        log_url=log.url,
                        log_key_file=tmp / "log.pub",
                    )
                )
                bundle = json.loads(case.bundle)
                body = {"bundle": bundle} if only else {"patch": diff(base.bundle_doc(), bundle)}
                _write_vector(
                    attack.name,
                    {
                        "attack": attack.name,
                        "description": attack.description,
                        "expected": {"check": attack.check, "error": attack.error},
                        "now": case.now or now,
                        "layout_keys": [k.decode() for k in case.layout_keys],
                        **body,
                        "artifacts": _artifacts(case.artifacts, whole=bool(only)),
                    },
                )
                print(f"{attack.name}: {attack.check}/{attack.error}")
        shutil.rmtree(tmp / "attacks", ignore_errors=True)


def _write_untampered(base: Any, now: int, owner: str) -> None:
    _write_vector(
        "untampered",
        {
            "attack": "untampered",
            "description": "the attested pipeline as recorded",
            "expected": {"ok": True},
            "now": now,
            "layout_keys": [owner],
            "bundle": base.bundle_doc(),
            "artifacts": {
                "dist/model.npz": base64.b64encode(
                    (base.work / "dist" / "model.npz").read_bytes()
                ).decode()
            },
        },
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[], help="attack names (whole bundles)")
    main(tuple(parser.parse_args().only))
