"""Regenerate the verifier's failing vectors: one JSON file per attack of tests/verify/attacks.py,
plus ``untampered.json`` (must verify). Fixed keys: the key pairs, dev CA, log key and the
simulated TEE platform seed under ``tests/verify/vectors/keys`` (created on the first run, then
reused), so regenerating changes only signatures, timestamps and nonces.

    .venv/bin/python tests/verify/vectors/generate.py

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


def main() -> None:
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
            for attack in ATTACKS:
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
                artifacts = None
                if case.artifacts is not None:
                    artifacts = {
                        str(p.relative_to(case.artifacts)): base64.b64encode(
                            p.read_bytes()
                        ).decode()
                        for p in sorted((case.artifacts / "dist").rglob("*"))
                        if p.is_file()
                    }
                _write_vector(
                    attack.name,
                    {
                        "attack": attack.name,
                        "description": attack.description,
                        "expected": {"check": attack.check, "error": attack.error},
                        "now": case.now or now,
                        "layout_keys": [k.decode() for k in case.layout_keys],
                        "patch": diff(base.bundle_doc(), json.loads(case.bundle)),
                        "artifacts": artifacts,
                    },
                )
                print(f"{attack.name}: {attack.check}/{attack.error}")
        shutil.rmtree(tmp / "attacks", ignore_errors=True)


if __name__ == "__main__":
    main()
