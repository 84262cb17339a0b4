"""Short reprs, block-named parameter vectors and notebook HTML of the results (``_repr_html_``).

A Jupyter notebook shows an object's ``_repr_html_``; each result renders its verdict or headline and the
numbers that matter at a glance (a small table), never its arrays. Everything here is plain strings: no
dependency, nothing imported at ``import mfsym`` beyond the standard library and numpy.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

#: colours of the verdict badge
VERDICT_COLOURS = {"global-minimizer": "#1a7f37", "unstable": "#cf222e", "not-stationary": "#9a6700",
                   "inconclusive": "#57606a"}


# ---------------------------------------------------------------------------------------------- numbers
def num(x: Any, digits: int = 4) -> str:
    """A float in ``digits`` significant digits (``inf``/``nan`` as words)."""
    if x is None:
        return "none"
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def vector(v: Any, digits: int = 4, limit: int = 8) -> str:
    """``[v0, v1, ...]`` with at most ``limit`` entries shown."""
    arr = np.asarray(v, dtype=float).ravel()
    shown = ", ".join(num(t, digits) for t in arr[:limit])
    return f"[{shown}{', ...' if arr.size > limit else ''}]" if arr.size != 1 else num(arr[0], digits)


# ---------------------------------------------------------------------------------------------- blocks
def named_blocks(family: Any, theta: Any) -> dict[str, Any]:
    """The parameter vector ``theta`` ``(p,)`` split into the family's named blocks (JSON-able lists).

    ``{"a": 0.71, "w": [0.06, 0.55, 0.44]}`` for relu; a scalar block (shape ``()``) is a float.
    """
    arr = np.asarray(theta, dtype=float).reshape(1, -1)
    out = {}
    for name, value in family.unpack(arr).items():
        v = value[0]
        out[name] = float(v) if v.shape == () else v.tolist()
    return out


def blocks_text(family: Any, theta: Any, digits: int = 4) -> str:
    """``a = 0.7071, w = [0.05567, 0.5508, 0.44]``: a parameter vector by block name."""
    parts = []
    for name, value in named_blocks(family, theta).items():
        parts.append(f"{name} = {vector(value, digits)}")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------- html
def _cell(text: Any) -> str:
    return html.escape(str(text))


def table(title: str, rows: list[tuple[str, Any]], badge: tuple[str, str] | None = None,
          notes: list[str] | None = None) -> str:
    """A compact HTML card: a title (with an optional coloured badge), two-column rows and notes."""
    head = f"<b>{_cell(title)}</b>"
    if badge is not None:
        text, colour = badge
        head += (f' <span style="background:{colour};color:white;padding:1px 6px;border-radius:3px;'
                 f'font-weight:bold">{_cell(text)}</span>')
    body = "".join(f'<tr><td style="text-align:left;padding:1px 8px 1px 0"><i>{_cell(k)}</i></td>'
                   f'<td style="text-align:left">{_cell(v)}</td></tr>' for k, v in rows)
    foot = "".join(f'<li>{_cell(n)}</li>' for n in (notes or []))
    return (f'<div class="mfsym-result">{head}<table style="border-collapse:collapse;margin-top:2px">{body}'
            f'</table>{"<ul style=margin-top:2px>" + foot + "</ul>" if foot else ""}</div>')


def report_html(rep: Any) -> str:
    """The card of a :class:`~mfsym.stability.Report`."""
    v = rep.verdict.value
    rel = getattr(rep, "relative_residual", float("nan"))
    stat = (f"{num(rel, 3)} scale-free (tol {num(rep.tol, 2)}); raw max_j |∇J(θ_j)| = {num(rep.residual, 3)}"
            if math.isfinite(rel) else f"{num(rep.residual, 3)} (tol {num(rep.tol, 2)})")
    rows: list[tuple[str, Any]] = [("meaning", rep.message.replace("`", "")), ("stationarity residual", stat)]
    refinement = getattr(rep, "refinement", None)
    if refinement is not None:
        rows.append(("refinement", refinement.get("message", "")))
    fam = rep.problem.family if rep.problem is not None else None
    if fam is not None:
        rows.insert(0, ("family", f"{fam.name}, p = {fam.p}, {fam.homogeneity}"))
    fw = rep.finite_width
    if fw is not None:
        rows.append(("finite width", f"{fw.classification} ({'certified' if fw.certified else 'numerical'}); "
                                     f"λmin = {num(fw.lambda_min)}, λmax = {num(fw.lambda_max)} on the complement "
                                     f"of {fw.symmetry_dim} symmetry direction(s)"))
    mfd = rep.mean_field
    if mfd is not None:
        rows.append(("mean-field gap", f"{num(mfd.gap)} ({mfd.kind}); non-globality "
                                       f"{'certified' if mfd.certified_nonglobal else 'not certified'}"))
        if mfd.witness is not None:
            w = blocks_text(fam, mfd.witness) if fam is not None else vector(mfd.witness)
            rows.append(("witness", w + (" (far along a direction at infinity)" if mfd.at_infinity else "")))
        for k, s in enumerate(mfd.escaping_sets):
            rows.append((f"escaping set {k}", escaping_set_line(s)))
    claims = rep.certificate.get("claims", [])
    if claims:
        rows.append(("certificate", ", ".join(f"{c['name']}: {c['outcome']}" for c in claims)))
    return table("mfsym check", rows, badge=(v, VERDICT_COLOURS.get(v, "#57606a")), notes=list(rep.reasons))


def escaping_set_line(s: Any) -> str:
    """One line on an escaping set: level, growth, margin, boundedness, certification."""
    bounded = {True: "bounded", False: "reaches infinity", None: "boundedness unknown"}[s.bounded]
    return (f"c = {num(s.level)}, {s.growth} growth at rate {num(s.growth_rate)}, margin κ = {num(s.margin, 3)}, "
            f"{bounded}, {s.n_components} component(s), {'certified' if s.certified else 'candidate'}")


def gap_html(g: Any) -> str:
    """The card of a :class:`~mfsym.meanfield.Gap`."""
    rows = [("value", num(g.value)), ("class", g.kind), ("sign", "J < 0 (positive masses escape)" if g.sign < 0
                                                         else "J > 0 (negative masses escape)")]
    if g.witness is not None:
        rows.append(("witness", blocks_text_or_vector(g)))
    if g.at_infinity:
        rows.append(("at infinity", "yes: the supremum is approached along " + vector(g.direction)))
    rows.append(("search", g.method))
    return table("mean-field gap", rows, notes=[g.note] if g.note else None)


def blocks_text_or_vector(g: Any) -> str:
    blocks = getattr(g, "blocks", None)
    if blocks:
        return ", ".join(f"{k} = {vector(v)}" for k, v in blocks.items())
    return vector(g.witness)


def escaping_set_html(s: Any) -> str:
    """The card of an :class:`~mfsym.meanfield.EscapingSet`."""
    fam = s._rp.family if s._rp is not None else None
    rows = [("level c", num(s.level)), ("class", s.kind),
            ("around", blocks_text(fam, s.witness) if fam is not None else vector(s.witness)),
            ("growth", f"{s.growth}, rate {num(s.growth_rate)}"), ("margin κ", num(s.margin, 3)),
            ("perturbation δ", num(s.perturbation, 3)),
            ("extent", {True: "bounded", False: "reaches infinity", None: "boundedness unknown"}[s.bounded]
             + f", {s.n_components} component(s)"),
            ("certified", "yes (every box of the cover, ball arithmetic)" if s.certified
             else f"no: {s.certificate.get('reason', 'sampled candidate')}")]
    badge = ("certified", "#1a7f37") if s.certified else ("candidate", "#57606a")
    return table("escaping set K_c", rows, badge=badge, notes=list(s.notes))


def potential_html(rp: Any) -> str:
    """The card of a :class:`~mfsym.meanfield.ReducedPotential`: its class and formula (MathJax)."""
    try:
        formula = f"${rp.latex()}$"
    except Exception as exc:  # a family without a componentwise form still renders its class
        formula = f"(no formula: {type(exc).__name__})"
    rows = [("class", rp.kind), ("evaluated on", f"points of dimension {rp.dim}"),
            ("family", f"{rp.family.name}, p = {rp.family.p}"), ("measure", f"m = {rp.mu.m}")]
    return table("reduced potential", rows) + f"<div>{_cell(formula)}</div>"


def trajectory_html(t: Any) -> str:
    """The card of a :class:`~mfsym.dynamics.Trajectory`."""
    rows = [("steps", f"{len(t.times) - 1} to t = {num(t.times[-1])} ({t.rejected} rejected)"),
            ("loss", f"{num(t.losses[0])} → {num(t.losses[-1])}"),
            ("velocity norm", f"{num(t.velocity_norms[0], 3)} → {num(t.velocity_norms[-1], 3)}"),
            ("stopped", t.stopped), ("snapshots", f"{len(t.snapshot_steps)} of {t.measure.m} particles")]
    return table("flow trajectory", rows)


def simulation_html(sim: Any) -> str:
    """The card of an :class:`~mfsym.meanfield.EscapeSimulation`."""
    rows = [("records", f"{len(sim.times)} to t = {num(sim.times[-1]) if len(sim.times) else 'none'}")]
    for k in range(len(sim.predicted_rate)):
        rows.append((f"set {k}", f"light mass inside at the end {num(sim.mass_in_set[k, -1], 3)}; growth rate "
                                 f"measured {num(sim.measured_rate[k], 3)} vs predicted ≥ {num(sim.predicted_rate[k], 3)}"
                                 f" ({sim.growth[k]})"))
    rows.append(("method", sim.method))
    return table("escape simulation", rows)


def spectrum_html(sp: Any) -> str:
    """The card of a :class:`~mfsym.stability.Spectrum`."""
    kinds = ", ".join(f"{c} {k}" for k, _, c in sp.symmetries.kinds) or "none"
    rows = [("classification", sp.classification), ("λmin, λmax on S⊥", f"{num(sp.lambda_min)}, {num(sp.lambda_max)}"),
            ("bottom eigenvalues", vector(sp.eigenvalues)), ("symmetries", f"dim {sp.symmetries.dim}: {kinds}"),
            ("method", sp.method)]
    return table("particle-Hessian spectrum", rows)
