"""``mf.check``: verdicts on a trained measure, finite width and mean field (docs/stability.md)."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import CertificateError, MeasureError
from .._progress import activate, phase
from .._progress import progress as progress_bar
from .._validate import bool_arg, positive_int, tolerance
from ..measure import Measure
from ..problem import Problem
from . import _certificates as C
from ._certificates import RESIDUAL_FACTOR
from .. import meanfield
from .._version import __version__
from .._ball import DEFAULT_PRECISION, check_precision, precision
from ._spectrum import DENSE_LIMIT, Spectrum, spectrum


#: largest accepted ``tol`` and ``gap_tol`` of :func:`check`
MAX_TOL = 1e-2

#: the phases of :func:`check` that its progress report counts
PHASES = ("stationarity", "spectrum", "finite-width certificate", "gap search", "non-globality certificate",
          "escaping sets")


class Verdict(str, enum.Enum):
    """The mean-field verdict on a measure, with what to do next."""

    GLOBAL = "global-minimizer"
    UNSTABLE = "unstable"
    NOT_STATIONARY = "not-stationary"
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value

    @property
    def message(self) -> str:
        return {
            "global-minimizer": "stationary, and the global search found no direction of descent for added mass "
                                "(numerical evidence, not a proof)",
            "unstable": "stationary but not a global minimizer (certified witness): unstable under mean-field "
                        "gradient flow from any full-support initialisation; see the escaping sets",
            "not-stationary": "the stationarity residual is above tol: refine with `mf.stationary` first",
            "inconclusive": "nothing could be decided; see `reasons` (raise the precision, refine the point or "
                            "widen the search)",
        }[self.value]


@dataclass
class FiniteWidth:
    """Finite-width classification of the point as a critical point of $F(\\theta_1..\\theta_m)$."""

    classification: str
    certified: bool
    lambda_min: float
    lambda_max: float
    symmetry_dim: int
    spectrum: Spectrum
    note: str = ""

    def __repr__(self) -> str:
        return (f"FiniteWidth({self.classification}, {'certified' if self.certified else 'numerical'}, "
                f"lambda_min {self.lambda_min:.4g})")

    def to_dict(self) -> dict:
        return {"classification": self.classification, "certified": self.certified, "lambda_min": self.lambda_min,
                "lambda_max": self.lambda_max, "symmetry_dim": self.symmetry_dim, "note": self.note,
                "spectrum": self.spectrum.to_dict()}


@dataclass
class MeanField:
    """Mean-field side: the gap, its witness and the escaping sets."""

    gap: float
    kind: str
    witness: np.ndarray | None
    at_infinity: bool
    method: str
    certified_nonglobal: bool
    escaping_sets: list = field(default_factory=list)
    gap_object: Any = None
    class_reason: str = ""

    def __repr__(self) -> str:
        return (f"MeanField(gap {self.gap:.4g}, {self.kind}, non-globality "
                f"{'certified' if self.certified_nonglobal else 'not certified'}, {len(self.escaping_sets)} escaping set(s))")

    def to_dict(self) -> dict:
        sets = []
        for s in self.escaping_sets:
            try:
                sets.append(s.to_dict())
            except Exception as exc:  # a set that cannot serialise is reported, not dropped silently
                sets.append({"error": f"{type(exc).__name__}: {exc}"})
        return {"gap": _num(self.gap), "kind": self.kind, "class_reason": self.class_reason,
                "witness": None if self.witness is None else [float(v) for v in self.witness],
                "witness_blocks": getattr(self.gap_object, "blocks", None),
                "at_infinity": self.at_infinity, "method": self.method,
                "certified_nonglobal": self.certified_nonglobal, "escaping_sets": sets}


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


@dataclass
class Report:
    """The result of :func:`check`.

    Attributes
    ----------
    verdict : Verdict
        "global-minimizer", "unstable", "not-stationary" or "inconclusive" (a str enum).
    residual : float
        The raw residual $\\max_j |\\nabla J_\\mu(\\theta_j)|$ (and $|\\partial_\\beta L|$ with an output bias).
    relative_residual : float
        The scale-free residual that ``tol`` is compared with (``Problem.relative_residual``).
    refinement : dict or None
        With ``refine=True``: what the bounded polishing did (``accepted``, ``displacement``, ``max_move``,
        ``loss_before``/``loss_after``, residuals before and after, ``message``).
    finite_width : FiniteWidth or None
    mean_field : MeanField or None
    certificate : dict
        JSON-able; :func:`verify` recomputes it.
    reasons : list of str
        Why the verdict is what it is.
    """

    verdict: Verdict
    residual: float
    tol: float
    finite_width: FiniteWidth | None
    mean_field: MeanField | None
    certificate: dict
    reasons: list[str]
    problem: Any = field(repr=False, default=None)
    relative_residual: float = float("nan")
    refinement: dict | None = None

    @property
    def message(self) -> str:
        """What the verdict means and what to do next."""
        return self.verdict.message

    def to_dict(self) -> dict:
        """JSON-able summary with the certificate."""
        return {"verdict": self.verdict.value, "message": self.message, "residual": self.residual, "tol": self.tol,
                "relative_residual": _num(self.relative_residual), "refinement": self.refinement,
                "finite_width": None if self.finite_width is None else self.finite_width.to_dict(),
                "mean_field": None if self.mean_field is None else self.mean_field.to_dict(),
                "reasons": self.reasons, "certificate": self.certificate}

    def to_json(self, indent: int | None = 1) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        """A few plain-text lines."""
        lines = [f"verdict: {self.verdict.value} -- {self.message}",
                 f"stationarity: relative residual {self.relative_residual:.3e} (tol {self.tol:.1e}); raw "
                 f"max_j |grad J(theta_j)| = {self.residual:.3e}"]
        if self.refinement is not None:
            lines.append(f"refine: {self.refinement['message']}")
        fw = self.finite_width
        if fw is not None:
            lines.append(f"finite width: {fw.classification} ({'certified' if fw.certified else 'numerical'}), "
                         f"lambda_min = {fw.lambda_min:.6g}, lambda_max = {fw.lambda_max:.6g} on the complement of "
                         f"{fw.symmetry_dim} symmetry direction(s)")
        mf_ = self.mean_field
        if mf_ is not None:
            lines.append(f"mean field: gap = {mf_.gap:.6g} ({mf_.kind}; {mf_.method}); non-globality "
                         f"{'certified' if mf_.certified_nonglobal else 'not certified'}")
            if mf_.class_reason:
                lines.append(f"  class: {mf_.kind}, because {mf_.class_reason}")
            if mf_.witness is not None:
                from .._display import blocks_text

                lines.append(f"  witness theta_hat: {blocks_text(self.problem.family, mf_.witness)}"
                             if self.problem is not None else
                             f"  witness theta_hat = {np.array2string(np.asarray(mf_.witness), precision=4)}"
                             + (" (far along a direction at infinity)" if mf_.at_infinity else ""))
            for s in mf_.escaping_sets:
                lines.append("  " + _describe_set(s))
        for r in self.reasons:
            lines.append(f"  note: {r}")
        return "\n".join(lines)

    def latex(self) -> str:
        """A full LaTeX document (compiles with pdflatex) with the formulas the verdict rests on."""
        from ._report import latex_report

        return latex_report(self)

    def to_tex(self, path: Any) -> Any:
        """Write :meth:`latex` to ``path``; returns the ``pathlib.Path`` written."""
        from ._report import write_tex

        return write_tex(self, path)

    def _repr_html_(self) -> str:
        from .._display import report_html

        return report_html(self)

    def __repr__(self) -> str:
        return f"Report({self.verdict.value}, residual {self.residual:.3g}, {len(self.certificate.get('claims', []))} claims)"

    def __str__(self) -> str:
        return self.summary()


def _describe_set(s) -> str:
    try:
        if s._rp is not None:
            from .._display import blocks_text

            where = blocks_text(s._rp.family, s.witness, digits=3)
        else:
            where = "theta = " + np.array2string(np.asarray(s.witness), precision=3)
        bounded = {True: "bounded", False: "reaches infinity", None: "boundedness unknown"}[s.bounded]
        return (f"escaping set K_c, c = {s.level:.4g}: around {where}; growth rate {s.growth_rate:.4g}, "
                f"margin kappa = {s.margin:.3g}, {bounded}, {s.n_components} component(s), "
                f"{'certified' if s.certified else 'candidate'}" + _claim_text(s))
    except Exception as exc:  # describe what we can
        return f"escaping set: {s!r} ({type(exc).__name__})"


def _claim_text(s) -> str:
    """What the set's escaping-set claim proved (empty without a proved claim)."""
    claim = getattr(s, "claim", None)
    if not s.certified or claim is None or claim.get("outcome") != "proved":
        return ""
    if claim["region"] == "spherical-cap":
        return f" (claim escaping-set: the cap of angular radius {float.fromhex(claim['angle']):.3g} lies in K_c)"
    return f" (claim escaping-set: the eta-ball of radius {float.fromhex(claim['radius']):.3g} lies in K_c)"


def _positive_float(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) or not np.isfinite(x) or x <= 0:
        raise CertificateError(f"{name}: expected a finite number > 0, got {x!r}")
    return float(x)


def _finite_width(prob, mu, spec: Spectrum, claims: list, bits: int, reasons: list) -> FiniteWidth:
    sym = spec.symmetries
    cls = spec.classification
    certified = False
    note = ""
    N = mu.particles.size
    if cls == "strict-saddle":
        v = spec.eigenvectors[:, 0].reshape(mu.particles.shape)
        v = v / np.max(np.abs(v))
        point = C.curvature_claim(prob, mu, v, 0.0)
        claims.append(point)
        certified = point["outcome"] == "proved"
        if certified:
            scale = max(1.0, float(np.max(np.abs(mu.particles))))
            for rho in (1e-4, 1e-6, 1e-8):
                box = C.curvature_claim(prob, mu, v, rho * scale)
                if box["outcome"] == "proved":
                    claims.append(box)
                    note = f"v^T H v < 0 uniformly on the box of half-width {rho * scale:.1e}"
                    break
        else:
            reasons.append(f"negative curvature not certified: {point['reason']}")
    elif cls == "strict-local-min":
        lam = spec.lambda_min / 2
        gnorm = np.linalg.norm(prob.particle_gradient(mu))
        radius = max(8 * gnorm / spec.lambda_min, 1e-12 * max(1.0, float(np.max(np.abs(mu.particles)))))
        sigma = abs(spec.lambda_max) + spec.lambda_min + 1.0
        pd = C.positive_definite_claims(prob, mu, sym.sparse, sigma, lam, radius)
        claims.extend(pd)
        certified = all(c["outcome"] == "proved" for c in pd)
        if certified and not sym.group_action:
            note = ("positive definite on the complement of the symmetry directions, which include identical "
                    "particles (a flat family of equivalent measures, not a group action): strict modulo that family")
        if not certified:
            reasons.append("strict local minimum not certified: " + "; ".join(c["reason"] for c in pd
                                                                                if c["outcome"] != "proved"))
    else:
        reasons.append(f"finite width: the Hessian is singular on the complement of the {sym.dim} symmetry "
                       f"direction(s) (lambda_min = {spec.lambda_min:.3g}); higher-order terms decide")
    if N > C.PD_LIMIT and cls == "strict-local-min":
        note = note or f"m p = {N} above the dense certificate limit"
    return FiniteWidth(cls, certified, spec.lambda_min, spec.lambda_max, sym.dim, spec, note)


def _claimed_set(s, claims: list):
    """Put an escaping set's region claim in the certificate; in a report a set is certified only by its claim
    (a box cover proved outside the certificate is named as such in the set's notes)."""
    import dataclasses

    if getattr(s, "claim", None) is None:
        return dataclasses.replace(s, certified=False) if s.certified else s
    claims.append(s.claim)
    if s.certified and s.claim["outcome"] != "proved":
        return dataclasses.replace(s, certified=False, notes=s.notes + (
            "the box cover was proved by escaping_sets, but the region claim was not: not certified in this "
            "report (the certificate carries only what verify re-proves)",))
    return s


def _displacement(prob: Problem, before: Measure, after: Measure) -> float:
    """$\\max_{j,B} |\\Delta\\theta_{j,B}| / s_B$ (and $|\\Delta\\beta| / S$): the move in units of the weight scale
    of each block ($s_B$, $S$ as in ``Problem.stationarity_weights``)."""
    scales, S = prob.weight_scales(before)
    live = before.masses != 0
    out = 0.0
    if live.any():
        for b, key in enumerate(prob.family.blocks):
            s = prob.family.block_slice(key)
            move = np.linalg.norm(after.particles[live][:, s] - before.particles[live][:, s], axis=1)
            out = max(out, float(np.max(move)) / scales[b])
    if before.offset is not None and after.offset is not None:
        out = max(out, float(np.linalg.norm(after.offset - before.offset)) / S)
    return out


def _refine(prob: Problem, mu: Measure, tol: float, max_move: float) -> tuple[Measure, dict]:
    """Polish ``mu`` with :func:`mfsym.stationary`; keep the result only if it moved at most ``max_move``."""
    import warnings

    from ..dynamics import stationary

    rel0, raw0, loss0 = prob.relative_residual(mu), prob.residual(mu), prob.loss(mu)
    info = {"accepted": False, "displacement": 0.0, "max_move": max_move, "loss_before": loss0, "loss_after": loss0,
            "residual_before": raw0, "relative_residual_before": rel0, "residual_after": raw0,
            "relative_residual_after": rel0}
    if rel0 <= tol:
        info["message"] = f"not needed: the relative residual {rel0:.3e} is already <= tol {tol:.1e}; nothing moved"
        return mu, info
    W, wb = prob.stationarity_weights(mu)
    worst_weight = max(float(np.max(W)) if W.size else 0.0, wb, 1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # the solver keeps inside max_move itself and says when the next Newton step would leave it
        nu, run = stationary(prob, mu, tol=max(0.1 * tol / worst_weight, 1e-15), max_move=max_move, info=True)
    move = _displacement(prob, mu, nu)
    rel1, raw1, loss1 = prob.relative_residual(nu), prob.residual(nu), prob.loss(nu)
    info.update({"displacement": move, "loss_after": loss1, "residual_after": raw1, "relative_residual_after": rel1,
                 "status": run.status, "residual_path": [float(v) for v in run.residuals]})
    if run.status == "max-move" or move > max_move:
        move = max(move, run.wanted_move or 0.0)
        info["displacement"] = move
        info["message"] = (f"would need to move further: the Newton step toward the nearest stationary point reaches "
                           f"{move:.3g} (relative to the weight scale) > max_move {max_move:g}; the given point was "
                           f"checked unchanged (raise max_move to accept it; loss {loss0:.6g} -> {loss1:.6g} and "
                           f"raw residual {raw0:.3e} -> {raw1:.3e} inside the bound)")
        return mu, info
    info["accepted"] = True
    info["message"] = (f"moved by {move:.3g} (relative to the weight scale, max_move {max_move:g}); loss {loss0:.6g} -> "
                       f"{loss1:.6g}; relative residual {rel0:.3e} -> {rel1:.3e}; the refined point was checked")
    return nu, info


def check(prob: Problem, mu: Measure, *, tol: float = 1e-6, gap_tol: float | None = None, seed: int = 0,
          precision_bits: int = DEFAULT_PRECISION, escaping: bool = True, restarts: int = 12,
          refine: bool = False, max_move: float = 0.05, progress: bool | None = None) -> Report:
    """Decide whether ``mu`` is stationary, a global minimizer, or unstable as a measure (docs/stability.md).

    Parameters
    ----------
    prob : Problem
    mu : Measure
    tol : float
        Stationarity tolerance on the scale-free residual ``prob.relative_residual(mu)``: the largest
        $|c_j|\\,s_B\\,|\\nabla_{\\theta_B} J_\\mu(\\theta_j)| / S^2$ over particles and blocks (and the output bias),
        the same whichever way masses and output weights share a factor and whatever the scale of data
        and weights (see docs/conventions.md); the raw $\\max_j|\\nabla J_\\mu(\\theta_j)|$ is reported too.
    gap_tol : float, optional
        Gap below which the point is reported a global minimizer (default ``tol``).
    seed : int
        Seeds the global search and the Lanczos start.
    precision_bits : int
        Ball-arithmetic precision of the certificates.
    escaping : bool
        Build the escaping sets of an unstable point.
    restarts : int
        Local runs of the global search (``mf.meanfield.gap``).
    refine : bool
        First polish the point with :func:`mfsym.stationary`, and check the polished point only if no block
        moved by more than ``max_move`` times its weight scale; otherwise check the given point and say
        how far it would need to move (``Report.refinement``).
    max_move : float
        Largest accepted displacement, relative to the weight scale of each block (> 0).
    progress : bool or None
        A progress report over the phases (stationarity, spectrum, finite-width certificate, gap search,
        non-globality certificate, escaping sets); None: only on a terminal or in a notebook.

    Returns
    -------
    Report
        ``verdict``; ``finite_width`` (``classification`` in {"strict-local-min", "strict-saddle",
        "degenerate"}, certified or numerical, $\\lambda_{min}$, $\\lambda_{max}$ on the complement of
        the symmetry directions); ``mean_field`` (gap, witness, escaping sets); ``certificate``.

    References
    ----------
    Chizat & Bach 2018 (arXiv 1805.09545), §3; Petit, Poon & Peyré 2026 (arXiv 2605.10775);
    Safran & Shamir 2018 (arXiv 1712.08968).
    """
    if not isinstance(prob, Problem):
        raise MeasureError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
    mu = prob._measure(mu)
    tol = tolerance(tol, "tol", CertificateError, MAX_TOL,
                    "a relative stationarity residual above it is not stationary in any useful sense")
    gap_tol = tol if gap_tol is None else tolerance(gap_tol, "gap_tol", CertificateError, MAX_TOL,
                                                    "a larger gap would call points with a descent direction global")
    precision_bits = check_precision(precision_bits)
    restarts = positive_int(restarts, "restarts", CertificateError)
    seed = positive_int(seed, "seed", CertificateError, minimum=0)
    if not isinstance(escaping, bool):
        raise CertificateError(f"escaping: expected True or False, got {escaping!r}")
    if not isinstance(refine, bool):
        raise CertificateError(f"refine: expected True or False, got {refine!r}")
    max_move = _positive_float(max_move, "max_move")
    progress = bool_arg(progress, "progress", CertificateError, allow_none=True)
    refinement = None
    if refine:
        mu, refinement = _refine(prob, mu, tol, max_move)

    reasons: list[str] = []
    claims: list[dict] = []
    spec = C.problem_spec(prob, mu)
    cert = {"format": C.FORMAT, "mfsym_version": __version__, "precision_bits": int(precision_bits),
            "problem": spec, "tol": tol, "gap_tol": gap_tol}
    cert["inputs_sha256"] = C.inputs_digest(cert)
    residual = prob.residual(mu)
    relative = prob.relative_residual(mu)
    cert["residual_float"] = residual
    fw = mfd = None
    with precision(precision_bits), activate(progress_bar(total=len(PHASES), desc="mf.check", enabled=progress)):
        phase("stationarity")
        st = C.stationarity_claim(prob, mu, tol)
        claims.append(st)
        stationary = relative <= tol if st["outcome"] == "undecided" else st["outcome"] == "proved"
        if st["outcome"] == "undecided":
            reasons.append(f"stationarity residual not enclosed ({st['reason']}); using the float value {relative:.3e}")
        if not stationary:
            verdict = Verdict.NOT_STATIONARY
            hint = ("" if refinement is None or refinement["accepted"] or "would need" not in refinement["message"]
                    else f" (refine=True: {refinement['message']})")
            reasons.append(f"relative stationarity residual {relative:.3e} > tol {tol:.1e} (raw max_j |grad J| = "
                           f"{residual:.3e}): polish with `check(..., refine=True)` or `mf.stationary` first" + hint)
        else:
            # the verdict needs the bottom pair only; Lanczos pays for every extra one (dense: all come free)
            phase("spectrum")
            sp_ = spectrum(prob, mu, seed=seed, k=1 if mu.particles.size > DENSE_LIMIT else 6)
            phase("finite-width certificate")
            fw = _finite_width(prob, mu, sp_, claims, precision_bits, reasons)
            verdict, mfd = _mean_field(prob, mu, gap_tol, seed, restarts, escaping, claims, reasons, cert)
    cert.update({"claims": claims, "verdict": verdict.value,
                 "finite_width": None if fw is None else {"classification": fw.classification,
                                                          "certified": fw.certified,
                                                          "lambda_min": fw.lambda_min, "lambda_max": fw.lambda_max,
                                                          "symmetry_dim": fw.symmetry_dim}})
    return Report(verdict, residual, tol, fw, mfd, cert, reasons, prob, relative, refinement)


def _mean_field(prob, mu, gap_tol, seed, restarts, escaping, claims, reasons, cert):

    gap_fn = getattr(meanfield, "gap", None)
    if gap_fn is None:
        reasons.append("mean-field gap unavailable (mfsym.meanfield.gap is not installed)")
        return Verdict.INCONCLUSIVE, None
    phase("gap search")
    g = gap_fn(prob, mu, seed=seed, restarts=restarts)
    value = float(g.value)
    cert["mean_field_search"] = {"gap_value": value if math.isfinite(value) else str(value), "gap_tol": gap_tol,
                                 "kind": g.kind, "method": g.method, "at_infinity": bool(g.at_infinity),
                                 "seed": int(seed), "restarts": int(restarts),
                                 "class_reason": meanfield.structure(prob).reason}
    mfd = MeanField(value, g.kind, g.witness, bool(g.at_infinity), g.method, False, [], g,
                    meanfield.structure(prob).reason)
    if g.kind == "general":
        # docs/mathematics.md, global optimality: without output-linearity or homogeneity there is no global-optimality criterion
        # in terms of J alone; report min J and claim nothing either way
        reasons.append(f"general class (neither output-linear nor homogeneous): min J over the searched region "
                       f"is {-value:.3e}, but no global-optimality criterion applies, so neither "
                       "'global-minimizer' nor 'unstable' is claimed")
        return Verdict.INCONCLUSIVE, mfd
    if value <= gap_tol:
        if "exact" in g.extras:  # piecewise-linear potential: the exact search proves the bound (or says why not)
            claim = C.exact_global_claim(prob, mu, gap_tol)
            claims.append(claim)
            if claim["outcome"] == "proved":
                mfd.method = f"{g.method}; certified (exact MILP): gap <= gap_tol"
                reasons.append(f"gap {value:.3e} <= gap_tol {gap_tol:.1e}: certified (exact MILP) -- the exact search "
                               f"over activation patterns proves the gap <= {C.certified_upper(claim):.3e}")
                return Verdict.GLOBAL, mfd
            reasons.append(f"the exact search did not certify the gap <= gap_tol ({claim['reason']})")
        reasons.append(f"gap {value:.3e} <= gap_tol {gap_tol:.1e} after the global search ({g.method}); "
                       "global optimality is numerical evidence, not a proof")
        return Verdict.GLOBAL, mfd
    if g.witness is None:
        reasons.append(f"gap {value:.3e} > gap_tol but the search returned no witness")
        return Verdict.INCONCLUSIVE, mfd
    residual = float(cert.get("residual_float", 0.0))
    witness = np.asarray(g.witness, dtype=float)
    j_w = abs(float(prob.first_variation(mu, witness[None])[0]))
    if j_w <= RESIDUAL_FACTOR * residual:
        # a point within the stationarity tolerance of a global minimizer can have a gap of the order of
        # its residual; 'unstable' speaks of a stationary point, so demand |J(witness)| well above it
        reasons.append(f"|J| at the witness ({j_w:.3e}) is within {RESIDUAL_FACTOR:g}x the stationarity residual "
                       f"{residual:.3e}: the point may be a perturbed global minimizer; refine with `mf.stationary` "
                       "and check again")
        return Verdict.INCONCLUSIVE, mfd
    phase("non-globality certificate")
    claim = C.nonglobality_claim(prob, mu, witness, int(g.sign), g.kind)
    claims.append(claim)
    if claim["outcome"] != "proved":
        reasons.append(f"gap {value:.3e} > gap_tol, but J at the witness was not certified: {claim['reason']}")
        return Verdict.INCONCLUSIVE, mfd
    if C.certified_gap(claim) <= RESIDUAL_FACTOR * residual:
        reasons.append(f"the certified |J| at the witness ({C.certified_gap(claim):.3e}) is within "
                       f"{RESIDUAL_FACTOR:g}x the stationarity residual {residual:.3e}: refine with `mf.stationary`")
        return Verdict.INCONCLUSIVE, mfd
    mfd.certified_nonglobal = True
    if escaping:
        sets_fn = getattr(meanfield, "escaping_sets", None)
        if sets_fn is None:
            reasons.append("escaping sets unavailable (mfsym.meanfield.escaping_sets is not installed)")
        else:
            cert["mean_field_search"]["escaping"] = True  # verify re-builds the sets and their claims
            try:
                phase("escaping sets")
                mfd.escaping_sets = list(sets_fn(prob, mu, seed=seed, gap=g))
            except Exception as exc:  # the verdict stands without the sets; say why they are missing
                reasons.append(f"escaping sets could not be built: {type(exc).__name__}: {exc}")
            mfd.escaping_sets = [_claimed_set(s, claims) for s in mfd.escaping_sets]
    return Verdict.UNSTABLE, mfd
