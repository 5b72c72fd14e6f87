"""The lineage graph of a bundle (datasets → steps → models), rendered as text, JSON, DOT or HTML.

The graph comes from the verification report when there is one (only verified facts), else
from the bundle's links read *without* verification (marked ``verified: false``). Not to be
confused with :mod:`atlas_intoto.verify.report`, the verifier's result rows, which the
renderings include when given.

Output formats are the :data:`FORMATS` registry: a renderer is called as
``renderer(lineage, source=...)`` and returns the whole document as text. :func:`render` and the
CLI's ``inspect --format`` choices both come from it, so a new format is one function and one
entry there. The HTML page is self-contained: inline CSS and SVG, no scripts, fonts or other
external assets.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atlas_intoto.verify.report import VerificationReport


@dataclass(frozen=True, kw_only=True)
class StepNode:
    """One step of the graph: who signed it, its TEE and log entry, what it read and wrote."""

    name: str
    functionaries: tuple[str, ...] = ()
    signers: tuple[str, ...] = ()
    tee_type: str | None = None
    mrtd: str | None = None
    log_index: int | None = None
    materials: Mapping[str, str] = field(default_factory=dict)
    products: Mapping[str, str] = field(default_factory=dict)
    #: True/False from a report, None when not verified
    passed: bool | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Lineage:
    """A bundle's steps in layout order; ``verified`` when they come from a verification report."""

    readme: str
    layout_digest: str | None
    steps: tuple[StepNode, ...]
    verified: bool
    report: VerificationReport | None = None

    def failed_artifacts(self) -> set[str]:
        """Products the consumer's files did not match (check 7 names the path first)."""
        if self.report is None:
            return set()
        return {
            row.reason.split(":", 1)[0]
            for row in self.report.results
            if row.check == "artifacts" and not row.passed
        }

    def artifacts(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Artifact nodes keyed by (path, sha256): kind input/intermediate/final, producer."""
        nodes: dict[tuple[str, str], dict[str, Any]] = {}
        last = self.steps[-1].name if self.steps else None
        for step in self.steps:
            for path, digest in step.products.items():
                kind = "final" if step.name == last else "intermediate"
                nodes[(path, digest)] = {"kind": kind, "producer": step.name}
        for step in self.steps:
            for path, digest in step.materials.items():
                nodes.setdefault((path, digest), {"kind": "input", "producer": None})
        return nodes

    def to_dict(self) -> dict[str, Any]:
        artifacts = self.artifacts()
        return {
            "verified": self.verified,
            "ok": self.report.ok if self.report is not None else None,
            "layout": {"digest": self.layout_digest, "readme": self.readme},
            "steps": [
                {
                    "name": s.name,
                    "functionaries": list(s.functionaries),
                    "signers": list(s.signers),
                    "tee": {"type": s.tee_type, "mrtd": s.mrtd},
                    "log_index": s.log_index,
                    "materials": dict(s.materials),
                    "products": dict(s.products),
                    "passed": s.passed,
                    "reasons": list(s.reasons),
                }
                for s in self.steps
            ],
            "artifacts": [
                {"path": path, "sha256": digest, **info}
                for (path, digest), info in sorted(artifacts.items())
            ],
            "results": (
                [row.to_dict() for row in self.report.results] if self.report is not None else []
            ),
        }


# ---------------------------------------------------------------------------------------------
# Building the lineage
# ---------------------------------------------------------------------------------------------


def _unverified_steps(
    bundle_bytes: bytes, *, source: str
) -> tuple[str, str | None, list[StepNode]]:
    from atlas_intoto.bundle import parse_bundle
    from atlas_intoto.errors import AtlasError
    from atlas_intoto.layout import layout_payload
    from atlas_intoto.link import read_unverified_link
    from atlas_intoto.measure import display_digest

    bundle = parse_bundle(bundle_bytes, source=source)
    readme, digest, order = "", None, []
    try:
        layout = layout_payload(bundle.layout, source=f"{source}: layout")
        readme, digest, order = layout.readme, layout.digest, [s.name for s in layout.steps]
        names = {f.keyid: f.name for f in layout.functionaries.values()}
    except Exception:
        names = {}
    steps: dict[str, StepNode] = {}
    for item in bundle.links:
        if item.step in steps:
            continue
        try:
            link = read_unverified_link(item.envelope, source=f"{source}: {item.step}")
        except AtlasError:
            continue  # inspection describes what it can read; verify names what is wrong
        keyids = link.claimed_keyids
        log_index = None
        if item.log_entry:
            entry: Any = next(iter(item.log_entry.values()), {})
            log_index = entry.get("logIndex") if isinstance(entry, dict) else None
        steps[item.step] = StepNode(
            name=item.step,
            signers=keyids,
            functionaries=tuple(names.get(k, k[:8]) for k in keyids),
            tee_type=_tee_type(link.atlas),
            log_index=log_index,
            materials={p: display_digest(d) for p, d in link.materials.items()},
            products={p: display_digest(d) for p, d in link.products.items()},
        )
    ordered = [steps.pop(name) for name in order if name in steps] + list(steps.values())
    missing = [StepNode(name=name) for name in order if name not in {s.name for s in ordered}]
    return readme, digest, ordered + missing


def _tee_type(atlas: Mapping[str, Any]) -> str | None:
    """The ``type`` of the link's ``tdx`` evidence (version 1 ``tee`` or version 2 entry)."""
    from atlas_intoto.errors import AtlasError
    from atlas_intoto.evidence.model import evidence_entries

    try:
        entries = evidence_entries(atlas)
    except AtlasError:
        return None
    for entry in entries:
        if entry.kind == "tdx":
            value = entry.fields.get("type")
            return value if isinstance(value, str) else None
    return None


def build_lineage(
    bundle_bytes: bytes, *, report: VerificationReport | None = None, source: str = "bundle"
) -> Lineage:
    """The lineage of a bundle: from ``report`` when it verified the layout, else unverified."""
    if report is None or not report.steps:
        readme, digest, steps = _unverified_steps(bundle_bytes, source=source)
        if report is not None:
            # The layout itself failed: nothing in the bundle is verified; show why.
            steps = [
                StepNode(**{**s.__dict__, "passed": False, "reasons": ("layout not verified",)})
                for s in steps
            ]
        return Lineage(
            readme=readme, layout_digest=digest, steps=tuple(steps), verified=False, report=report
        )
    nodes = []
    for lineage in report.steps:
        reasons = tuple(
            row.reason for row in report.results if row.step == lineage.step and not row.passed
        )
        nodes.append(
            StepNode(
                name=lineage.step,
                functionaries=lineage.functionaries,
                signers=lineage.signers,
                tee_type=lineage.tee_type,
                mrtd=lineage.mrtd,
                log_index=lineage.log_index,
                materials=lineage.materials,
                products=lineage.products,
                passed=lineage.passed and not reasons,
                reasons=reasons,
            )
        )
    return Lineage(
        readme=report.layout_readme,
        layout_digest=report.layout_digest,
        steps=tuple(nodes),
        verified=True,
        report=report,
    )


# ---------------------------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------------------------


def _mark(passed: bool | None) -> str:
    return {True: "✓ verified", False: "✗ FAILED", None: "? unverified"}[passed]


def render_text(lineage: Lineage, *, source: str = "bundle") -> str:
    """A tree: one line per step, its materials (←), products (→) and failure reasons."""
    lines = [f"layout {(lineage.layout_digest or '?')[:16]}  {lineage.readme}".rstrip()]
    for step in lineage.steps:
        who = (
            ", ".join(
                f"{name} ({keyid[:8]})"
                for name, keyid in zip(step.functionaries, step.signers, strict=False)
            )
            or "no signer"
        )
        tee = f"  TEE {step.tee_type}" if step.tee_type else ""
        tee += f" MRTD {step.mrtd[:16]}…" if step.mrtd else ""
        log = f"  log #{step.log_index}" if step.log_index is not None else ""
        lines.append(f"├─ {step.name}  [{_mark(step.passed)}]  signed by {who}{tee}{log}")
        for path in sorted(step.materials):
            lines.append(f"│    ← {path}  {step.materials[path][:12]}")
        for path in sorted(step.products):
            lines.append(f"│    → {path}  {step.products[path][:12]}")
        for reason in step.reasons:
            lines.append(f"│    ! {reason}")
    if lineage.report is not None:
        lines.append("")
        lines.append(lineage.report.text())
    return "\n".join(lines) + "\n"


def _dot_id(text: str) -> str:
    return json.dumps(text)


def render_json(lineage: Lineage, *, source: str = "bundle") -> str:
    """:meth:`Lineage.to_dict` as indented JSON."""
    return json.dumps(lineage.to_dict(), indent=2) + "\n"


def render_dot(lineage: Lineage, *, source: str = "bundle") -> str:
    """A Graphviz digraph: artifacts and steps as nodes, coloured by verification result."""
    out = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    colors = {True: "palegreen", False: "lightcoral", None: "lightgrey"}
    for (path, digest), info in sorted(lineage.artifacts().items()):
        shape = {"input": "cylinder", "intermediate": "note", "final": "box3d"}[info["kind"]]
        out.append(
            f"  {_dot_id('a:' + path + '@' + digest)} [shape={shape}, "
            f"label={_dot_id(path + chr(10) + digest[:12])}];"
        )
    for step in lineage.steps:
        label = step.name + "\n" + ", ".join(step.functionaries)
        if step.mrtd:
            label += f"\nMRTD {step.mrtd[:12]}"
        if step.log_index is not None:
            label += f"\nlog #{step.log_index}"
        label += "\n" + _mark(step.passed)
        out.append(
            f'  {_dot_id("s:" + step.name)} [shape=box, style="rounded,filled", '
            f"fillcolor={colors[step.passed]}, label={_dot_id(label)}];"
        )
        for path, digest in sorted(step.materials.items()):
            out.append(f"  {_dot_id('a:' + path + '@' + digest)} -> {_dot_id('s:' + step.name)};")
        for path, digest in sorted(step.products.items()):
            out.append(f"  {_dot_id('s:' + step.name)} -> {_dot_id('a:' + path + '@' + digest)};")
    out.append("}")
    return "\n".join(out) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#1d2330}
h1{font-size:1.5em;margin-bottom:.2em} .sub{color:#5b6475;margin-top:0}
.verdict{display:inline-block;padding:.4em .9em;border-radius:6px;font-weight:700;font-size:1.1em}
.verdict.ok{background:#d8f5dd;color:#14642a} .verdict.bad{background:#fde0e0;color:#a11616}
.verdict.unk{background:#eceff4;color:#3b4252}
table{border-collapse:collapse;margin:1em 0;width:100%} th,td{border:1px solid #d0d5de;
padding:.35em .6em;text-align:left;vertical-align:top;font-size:.92em}
th{background:#f2f4f8} tr.fail td{background:#fde0e0} tr.fail td.status{color:#a11616;font-weight:700}
tr.pass td.status{color:#14642a;font-weight:700} code{font-size:.9em}
tr.skip td.status{color:#8a6d00;font-weight:700} .consequence{color:#666;font-style:italic}
svg{border:1px solid #d0d5de;border-radius:6px;background:#fbfcfe;max-width:100%;height:auto}
.step rect{stroke-width:2} .step.pass rect{fill:#e3f7e6;stroke:#2f9e44}
.step.fail rect{fill:#fde0e0;stroke:#c92a2a;stroke-width:3} .step.unk rect{fill:#eef1f6;stroke:#7b8494}
.artifact rect{fill:#fff;stroke:#7b8494} .artifact.final rect{stroke:#1c64b8;stroke-width:2}
.artifact.input rect{stroke-dasharray:4 2}
.artifact.fail rect{fill:#fde0e0;stroke:#c92a2a;stroke-width:3}
text{font-size:12px} .title{font-weight:700;font-size:13px} .failmark{fill:#c92a2a;font-weight:700}
.edge{stroke:#8b93a3;stroke-width:1.4;fill:none}
"""


def _svg(lineage: Lineage) -> str:
    """A left-to-right layered drawing: inputs, then each step followed by its products."""
    artifacts = lineage.artifacts()
    column: dict[str, int] = {}
    columns: dict[int, list[str]] = {}
    step_index = {step.name: i for i, step in enumerate(lineage.steps)}
    for (path, digest), info in sorted(artifacts.items()):
        col = 0 if info["producer"] is None else 2 * step_index[info["producer"]] + 2
        key = f"a:{path}@{digest}"
        column[key] = col
        columns.setdefault(col, []).append(key)
    for step in lineage.steps:
        key = f"s:{step.name}"
        column[key] = 2 * step_index[step.name] + 1
        columns.setdefault(column[key], []).append(key)
    box_w, box_h, gap_x, gap_y = 190, 74, 50, 22
    pos: dict[str, tuple[int, int]] = {}
    height = 0
    for col, keys in columns.items():
        for row, key in enumerate(keys):
            pos[key] = (20 + col * (box_w + gap_x), 20 + row * (box_h + gap_y))
            height = max(height, pos[key][1] + box_h + 20)
    width = 20 + (max(columns) + 1) * (box_w + gap_x) if columns else 200
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{max(height, 120)}" '
        f'viewBox="0 0 {width} {max(height, 120)}" role="img" aria-label="lineage graph">'
    ]

    def edge(src: str, dst: str) -> None:
        if src not in pos or dst not in pos:
            return
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        x1, y1, x2, y2 = x1 + box_w, y1 + box_h // 2, x2, y2 + box_h // 2
        mid = (x1 + x2) // 2
        parts.append(
            f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" '
            'marker-end="url(#arrow)"/>'
        )

    parts.append(
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8b93a3"/></marker></defs>'
    )
    for step in lineage.steps:
        for path, digest in step.materials.items():
            edge(f"a:{path}@{digest}", f"s:{step.name}")
        for path, digest in step.products.items():
            edge(f"s:{step.name}", f"a:{path}@{digest}")
    esc = html.escape
    mismatched = lineage.failed_artifacts()
    for (path, digest), info in sorted(artifacts.items()):
        x, y = pos[f"a:{path}@{digest}"]
        bad = info["kind"] != "input" and path in mismatched
        label = "✗ held file differs" if bad else info["kind"]
        parts.append(
            f'<g class="artifact {info["kind"]}{" fail" if bad else ""}" data-path="{esc(path)}">'
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="3"/>'
            f'<text x="{x + 8}" y="{y + 20}" class="title">{esc(_short(path, 26))}</text>'
            f'<text x="{x + 8}" y="{y + 38}" class="{"failmark" if bad else ""}">{label}</text>'
            f'<text x="{x + 8}" y="{y + 56}"><tspan>sha256 {esc(digest[:16])}…</tspan></text></g>'
        )
    for step in lineage.steps:
        x, y = pos[f"s:{step.name}"]
        state = {True: "pass", False: "fail", None: "unk"}[step.passed]
        who = ", ".join(step.functionaries) or "no valid link"
        detail = []
        if step.mrtd:
            detail.append(f"MRTD {step.mrtd[:10]}…")
        elif step.tee_type:
            detail.append(f"TEE {step.tee_type}")
        if step.log_index is not None:
            detail.append(f"log #{step.log_index}")
        mark = {"pass": "✓", "fail": "✗ FAILED", "unk": "?"}[state]
        parts.append(
            f'<g class="step {state}" data-step="{esc(step.name)}"><rect x="{x}" y="{y}" '
            f'width="{box_w}" height="{box_h}" rx="10"/>'
            f'<text x="{x + 8}" y="{y + 18}" class="title">{esc(_short(step.name, 18))}</text>'
            f'<text x="{x + box_w - 8}" y="{y + 18}" text-anchor="end" '
            f'class="{"failmark" if state == "fail" else ""}">{mark}</text>'
            f'<text x="{x + 8}" y="{y + 38}">{esc(_short(who, 28))}</text>'
            f'<text x="{x + 8}" y="{y + 58}">{esc(_short(" · ".join(detail), 28))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_html(
    bundle_bytes: bytes, *, report: VerificationReport | None = None, source: str = "bundle"
) -> str:
    """The self-contained HTML page of a bundle (``render(..., fmt="html")``)."""
    return render(bundle_bytes, fmt="html", report=report, source=source)


def render_page(lineage: Lineage, *, source: str = "bundle") -> str:
    """The self-contained HTML page: verdict, SVG lineage drawing, check results, steps."""
    from atlas_intoto.verify.report import CHECKS

    esc = html.escape
    title = source
    report = lineage.report
    if report is None:
        verdict = '<span class="verdict unk" id="verdict">NOT VERIFIED (inspection only)</span>'
    elif report.ok:
        verdict = f'<span class="verdict ok" id="verdict">✓ {esc(report.verdict)}</span>'
    else:
        causes = len(report.root_causes)
        verdict = (
            f'<span class="verdict bad" id="verdict">✗ VERIFICATION FAILED '
            f"({len(report.failures)} check(s); {causes} root cause(s))</span>"
        )
    rows = []
    if report is not None:
        for row in report.results:
            status = row.status.upper()
            number = f"{CHECKS.index(row.check) + 1}. " if row.check in CHECKS else ""
            after = (
                f'<br><span class="consequence">consequence of {esc(row.consequence_of)}</span>'
                if row.consequence_of
                else ""
            )
            rows.append(
                f'<tr class="{row.status}"><td class="status">{status}</td>'
                f"<td>{number}{esc(row.check)}</td>"
                f"<td>{esc(row.step or '')}</td><td>{esc(row.reason)}{after}</td>"
                f"<td><code>{esc(row.error or '')}</code></td></tr>"
            )
    results = (
        '<h2>Checks</h2><table id="checks"><tr><th>Status</th><th>Check</th><th>Step</th>'
        "<th>Reason</th><th>Error</th></tr>" + "".join(rows) + "</table>"
        if rows
        else ""
    )
    steps = []
    for step in lineage.steps:
        status = _mark(step.passed)
        css = {True: "pass", False: "fail", None: ""}[step.passed]
        steps.append(
            f'<tr class="{css}"><td class="status">{esc(status)}</td><td>{esc(step.name)}</td>'
            f"<td>{esc(', '.join(step.functionaries))}<br><code>"
            f"{esc(', '.join(k[:16] for k in step.signers))}</code></td>"
            f"<td>{esc(step.tee_type or '')}<br><code>{esc((step.mrtd or '')[:32])}</code></td>"
            f"<td>{'' if step.log_index is None else step.log_index}</td>"
            f"<td>{'<br>'.join(esc(p) for p in sorted(step.materials))}</td>"
            f"<td>{'<br>'.join(esc(p) for p in sorted(step.products))}</td></tr>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>atlas-intoto report: {esc(title)}</title>
<style>{_CSS}</style></head>
<body>
<h1>atlas-intoto verification report</h1>
<p class="sub">{esc(title)} · layout <code>{esc((lineage.layout_digest or "?")[:16])}</code>
 · {esc(lineage.readme)}</p>
<p>{verdict}</p>
<h2>Lineage</h2>
{_svg(lineage)}
{results}
<h2>Steps</h2>
<table id="steps"><tr><th>Status</th><th>Step</th><th>Signer</th><th>TEE / MRTD</th>
<th>Log index</th><th>Materials</th><th>Products</th></tr>{"".join(steps)}</table>
</body></html>
"""


def render(
    bundle_bytes: bytes,
    *,
    fmt: str,
    report: VerificationReport | None = None,
    source: str = "bundle",
) -> str:
    """The lineage of a bundle in ``fmt``, one of :data:`FORMATS`."""
    renderer = FORMATS.get(fmt)
    if renderer is None:
        from atlas_intoto.errors import UsageError

        *others, last = FORMATS
        raise UsageError(f"--format {fmt!r}: expected {', '.join(others)} or {last}")
    text = renderer(build_lineage(bundle_bytes, report=report, source=source), source=source)
    # Names come from unverified JSON and may hold lone surrogates, which no UTF-8 file can
    # carry: show them escaped (a backslash escape) rather than fail to write the report.
    return str(text.encode("utf-8", "backslashreplace").decode("utf-8"))


#: Output formats by name: ``renderer(lineage, source=...)`` → the document. Add a format here.
FORMATS: Mapping[str, Callable[..., str]] = MappingProxyType(
    {"text": render_text, "json": render_json, "dot": render_dot, "html": render_page}
)

__all__ = [
    "FORMATS",
    "Lineage",
    "StepNode",
    "build_lineage",
    "render",
    "render_dot",
    "render_html",
    "render_json",
    "render_page",
    "render_text",
]
