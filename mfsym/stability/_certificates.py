"""Certificates: three-valued ball-arithmetic claims, their JSON form and :func:`verify` (docs/certificates.md).

Every claim is an inequality ``quantity < threshold`` (or ``<=``) whose left side is enclosed in a
python-flint ball from exact symbolic derivative formulas (:mod:`._enclose`); its outcome is
``proved`` (the whole ball satisfies it), ``refuted`` (no point of the ball does) or ``undecided``.
A certificate is plain JSON holding everything needed to recompute it from scratch: the family
(name and options, or the sympy ``srepr`` of a custom neuron), the data and the measure (floats
written exactly, ``float.hex`` or little-endian float64 in base64), the witnesses, the precision,
each claim with its enclosure, and the mfsym version. :func:`verify` rebuilds the problem and
recomputes every claim.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import math
import re
from typing import Any

import flint
import numpy as np
import scipy.linalg as sla
import sympy as sp

from .._errors import CertificateError, MfsymError
from ..data import Samples
from ..families import REGISTRY, by_name, from_expr
from ..measure import Measure
from ..meanfield import cone_sign, structure
from ..population import GaussianTeacher, closed_form_population
from ..problem import Problem
from ._spectrum import symmetries
from . import _floatbound as FB
from .._ball import Undecided, precision, to_interval_hex
from .._enclose import ball_problem as BallProblem, balls

#: version 2: the stationarity claim encloses the scale-free residual, the measure may carry an output bias,
#: and the mean-field search records the class's reason; version-1 certificates must be re-made with check
FORMAT = "mfsym-certificate/2"
PD_LIMIT = 1500
#: 'unstable' needs a certified |J(witness)| above this multiple of the stationarity residual: a point
#: within the stationarity tolerance of a global minimizer can have a gap of the order of its residual
RESIDUAL_FACTOR = 100.0
#: relative tolerance when verify recomputes float quantities (residual, gap) from the certificate's data
FLOAT_RTOL = 1e-8


class Outcome(str, enum.Enum):
    """Outcome of one certified inequality."""

    PROVED = "proved"
    REFUTED = "refuted"
    UNDECIDED = "undecided"

    def __str__(self) -> str:
        return self.value

    @property
    def message(self) -> str:
        return {"proved": "the inequality holds for every point of the enclosure",
                "refuted": "the enclosure lies entirely on the wrong side: the inequality is false",
                "undecided": "the enclosure straddles the threshold: raise the precision or refine the point"}[self.value]


# ---------------------------------------------------------------------------- encoding
def encode(arr: Any) -> dict:
    """An exact JSON form of a float array (``float.hex`` for small arrays, base64 float64 otherwise)."""
    a = np.ascontiguousarray(np.asarray(arr, dtype=np.float64))
    if a.size <= 4096:
        return {"shape": list(a.shape), "hex": [float(v).hex() for v in a.ravel()]}
    return {"shape": list(a.shape), "base64": base64.b64encode(a.astype("<f8").tobytes()).decode("ascii")}


def decode(obj: Any, name: str) -> np.ndarray:
    """Inverse of :func:`encode`; malformed input raises :class:`CertificateError` naming ``name``."""
    if not isinstance(obj, dict) or "shape" not in obj or not ({"hex", "base64"} & set(obj)):
        raise CertificateError(f"{name}: expected {{'shape': [...], 'hex': [...]}} or base64, got {str(obj)[:80]!r}")
    shape = obj["shape"]
    if not isinstance(shape, list) or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in shape):
        raise CertificateError(f"{name}.shape: expected a list of non-negative ints, got {shape!r}")
    size = int(np.prod(shape, dtype=np.int64))
    try:
        if "hex" in obj:
            vals = obj["hex"]
            if not isinstance(vals, list):
                raise ValueError("hex is not a list")
            a = np.array([float.fromhex(v) for v in vals], dtype=np.float64)
        else:
            a = np.frombuffer(base64.b64decode(obj["base64"], validate=True), dtype="<f8").astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise CertificateError(f"{name}: could not decode the floats ({exc})") from None
    if a.size != size:
        raise CertificateError(f"{name}: {a.size} values do not fill the shape {shape}")
    if not np.all(np.isfinite(a)):
        raise CertificateError(f"{name}: expected finite values")
    return a.reshape(shape)


def _hexf(x: float) -> str:
    return float(x).hex()


def _unhex(s: Any, name: str) -> float:
    if not isinstance(s, str):
        raise CertificateError(f"{name}: expected a float.hex string, got {s!r}")
    try:
        return float.fromhex(s)
    except ValueError:
        raise CertificateError(f"{name}: expected a float.hex string, got {s!r}") from None


# ---------------------------------------------------------------------------- family / problem
_SREPR_NAMES = {"Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Max", "Min", "Heaviside", "Abs",
                "exp", "log", "tanh", "erf", "sin", "cos", "tan", "atan", "asin", "acos", "atan2", "sinh", "cosh",
                "sign", "pi", "E", "Half", "One", "NegativeOne", "Zero", "ImmutableDenseMatrix", "MutableDenseMatrix",
                "Matrix", "True", "False", "real", "positive", "precision", "sqrt", "DiracDelta",
                "Piecewise", "ExprCondPair", "StrictGreaterThan", "GreaterThan", "StrictLessThan", "LessThan",
                "Equality", "Unequality", "And", "Or", "Not", "BooleanTrue", "BooleanFalse", "erfc", "atanh",
                "asinh", "acosh", "true", "false"}


#: bounds of the structural srepr decoder: tree nodes, nesting depth, digits of an integer, string length,
#: Float precision (bits), |integer exponent| of a power, and digits of a numeric power's value
SREPR_LIMITS = {"nodes": 200_000, "depth": 200, "digits": 400, "string": 200, "precision": 4096, "exponent": 64,
                "power_digits": 2000}


def _safe_sympify(text: Any, name: str):
    r"""Rebuild a sympy expression from its ``srepr`` structurally, never by ``eval``.

    The text is parsed by :mod:`ast` into calls of the names in ``_SREPR_NAMES`` with literal arguments;
    sizes are bounded (:data:`SREPR_LIMITS`) before anything is built: integers by their digits, Float
    precision, string lengths, the number and depth of nodes, and a numeric power by the digits of its value
    ($|e| \log_{10}|b|$) -- so ``Pow(Integer(10), Integer(10**8))`` is refused at once instead of evaluated.
    """
    import ast

    if not isinstance(text, str) or len(text) > 2_000_000:
        raise CertificateError(f"{name}: expected an srepr string, got {type(text).__name__}")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CertificateError(f"{name}: not an srepr expression ({str(exc)[:80]})") from None
    L = SREPR_LIMITS
    count = 0
    for _ in ast.walk(tree):
        count += 1
        if count > L["nodes"]:
            raise CertificateError(f"{name}: the expression has more than {L['nodes']} nodes")
    namespace = {k: getattr(sp, k) for k in _SREPR_NAMES if hasattr(sp, k)}
    namespace["ExprCondPair"] = sp.functions.elementary.piecewise.ExprCondPair
    namespace.update({"BooleanTrue": lambda: sp.true, "BooleanFalse": lambda: sp.false, "true": sp.true,
                      "false": sp.false, "Half": sp.S.Half, "One": sp.S.One,
                      "NegativeOne": sp.S.NegativeOne, "Zero": sp.S.Zero})

    def digits(v) -> float:
        """Decimal digits of a number's magnitude (0 for non-numbers)."""
        if isinstance(v, (sp.Integer, sp.Rational)):
            return max(len(str(abs(v.p))), len(str(v.q)))
        if isinstance(v, sp.Float):
            return abs(float(sp.log(abs(v), 10))) if v != 0 else 0.0
        return 0.0

    def build(node, depth: int):
        if depth > L["depth"]:
            raise CertificateError(f"{name}: the expression is nested deeper than {L['depth']}")
        if isinstance(node, ast.Expression):
            return build(node.body, depth)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or v is None:
                return v
            if isinstance(v, int):
                if len(str(abs(v))) > L["digits"]:
                    raise CertificateError(f"{name}: an integer with more than {L['digits']} digits")
                return v
            if isinstance(v, str):
                if len(v) > L["string"]:
                    raise CertificateError(f"{name}: a string longer than {L['string']} characters")
                return v
            raise CertificateError(f"{name}: unexpected literal {type(v).__name__} in the expression")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            v = build(node.operand, depth + 1)
            if isinstance(v, bool) or not isinstance(v, int):
                raise CertificateError(f"{name}: unexpected negated literal in the expression")
            return -v
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [build(e, depth + 1) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Name):  # bare constants only; functions are called
            if node.id in ("pi", "E", "true", "false", "Half", "One", "NegativeOne", "Zero"):
                return namespace[node.id]
            raise CertificateError(f"{name}: unexpected name {node.id!r} in the expression")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            fname = node.func.id
            if fname not in _SREPR_NAMES or fname not in namespace:
                raise CertificateError(f"{name}: unexpected name {fname!r} in the expression")
            args = [build(a, depth + 1) for a in node.args]
            kwargs = {}
            for kw in node.keywords:
                if kw.arg is None or kw.arg not in ("real", "positive", "precision", "evaluate"):
                    raise CertificateError(f"{name}: unexpected keyword {kw.arg!r} in the expression")
                kwargs[kw.arg] = build(kw.value, depth + 1)
            if "precision" in kwargs and not (isinstance(kwargs["precision"], int)
                                              and 1 <= kwargs["precision"] <= L["precision"]):
                raise CertificateError(f"{name}: Float precision must be an int in [1, {L['precision']}]")
            if fname == "Pow" and len(args) == 2:
                b, e = args
                if isinstance(e, sp.Integer) and abs(int(e)) > L["exponent"] and getattr(b, "is_number", False):
                    raise CertificateError(f"{name}: a numeric power with |exponent| > {L['exponent']}")
                if getattr(b, "is_number", False) and isinstance(e, sp.Rational) \
                        and digits(b) * abs(float(e)) > L["power_digits"]:
                    raise CertificateError(f"{name}: a numeric power of more than {L['power_digits']} digits")
            try:
                out = namespace[fname](*args, **kwargs)
            except CertificateError:
                raise
            except Exception as exc:
                raise CertificateError(f"{name}: could not rebuild the expression ({str(exc)[:80]})") from None
            if digits(out) > L["power_digits"]:
                raise CertificateError(f"{name}: a number of more than {L['power_digits']} digits")
            return out
        raise CertificateError(f"{name}: unexpected syntax {type(node).__name__} in the expression")

    return build(tree, 0)


def family_spec(fam) -> dict:
    """The family as JSON: built-in name and options, or a custom neuron's ``srepr``."""
    expr = sp.srepr(fam.componentwise().expr)
    name = getattr(fam, "registry_name", None)
    if name in REGISTRY and isinstance(getattr(fam, "options", None), dict):
        return {"name": name, "options": dict(fam.options), "expr_srepr": expr}
    cw = fam.componentwise()
    inputs = {}
    for key, val in cw.inputs.items():
        if isinstance(val, sp.MatrixBase):
            inputs[key] = [val.shape[0]] if val.shape[1] == 1 else list(val.shape)
        else:
            inputs[key] = []
    return {"name": "custom", "label": fam.name, "params": {k: list(v) for k, v in fam.blocks.items()},
            "inputs": inputs, "expr_srepr": expr}


def build_family(spec: Any):
    """Rebuild a family from :func:`family_spec` output and check its neuron is the recorded one."""
    if not isinstance(spec, dict) or "name" not in spec or "expr_srepr" not in spec:
        raise CertificateError(f"problem.family: expected a dict with 'name' and 'expr_srepr', got {str(spec)[:80]!r}")
    try:
        if spec["name"] == "custom":
            expr = _safe_sympify(spec["expr_srepr"], "problem.family.expr_srepr")
            params = {k: tuple(v) for k, v in spec["params"].items()}
            inputs = {k: tuple(v) for k, v in spec["inputs"].items()}
            fam = from_expr(expr, params=params, inputs=inputs, name=str(spec.get("label", "custom")))
        else:
            opts = spec.get("options", {})
            if not isinstance(opts, dict):
                raise CertificateError(f"problem.family.options: expected a dict, got {opts!r}")
            fam = by_name(spec["name"], **opts)
    except CertificateError:
        raise
    except (MfsymError, KeyError, TypeError, AttributeError) as exc:
        raise CertificateError(f"problem.family: could not rebuild the family ({exc})") from None
    return fam


def problem_spec(prob, mu) -> dict:
    """The problem and the measure as exact JSON."""
    if not isinstance(prob.data, Samples):
        data = {"kind": type(prob.data).__name__}
        teacher = getattr(prob.data, "teacher", None)
        if closed_form_population(prob):
            data = {"kind": "gaussian-teacher", "family": family_spec(prob.data.family),
                    "teacher": {"particles": encode(teacher.particles), "masses": encode(teacher.masses)}}
    else:
        data = {"kind": "samples", "X": encode(prob.data.X), "Y": encode(prob.data.Y)}
    measure = {"particles": encode(mu.particles), "masses": encode(mu.masses)}
    if mu.offset is not None:  # the trained output bias (absent without one: older certificates unchanged)
        measure["offset"] = encode(mu.offset)
    spec = {"family": family_spec(prob.family), "data": data, "loss": prob.loss_name, "reg": _hexf(prob.reg),
            "measure": measure}
    if getattr(prob, "backend_name", "numpy") != "numpy":   # verify re-runs on the backend that checked
        spec["backend"] = prob.backend_name
    return spec


def digest(spec: dict) -> str:
    """SHA-256 of the canonical JSON of the problem and measure (binds the claims to their inputs)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def inputs_digest(cert: dict) -> str:
    """The digest binding a certificate's problem, measure and tolerances."""
    return digest({"problem": cert.get("problem"), "tol": cert.get("tol"), "gap_tol": cert.get("gap_tol")})


def rebuild(spec: Any):
    """``(Problem, Measure)`` from :func:`problem_spec` output; ``None`` for data it cannot rebuild."""

    if not isinstance(spec, dict):
        raise CertificateError(f"problem: expected a dict, got {type(spec).__name__}")
    for key in ("family", "data", "loss", "reg", "measure"):
        if key not in spec:
            raise CertificateError(f"problem: missing key {key!r}")
    fam = build_family(spec["family"])
    if sp.srepr(fam.componentwise().expr) != spec["family"]["expr_srepr"]:
        return "mismatch"
    data = spec["data"]
    if not isinstance(data, dict) or data.get("kind") not in ("samples", "gaussian-teacher"):
        return None
    try:
        if data["kind"] == "samples":
            samples = Samples(decode(data.get("X"), "problem.data.X"), decode(data.get("Y"), "problem.data.Y"))
        else:

            tfam = build_family(data.get("family"))
            tmeas = data.get("teacher")
            if not isinstance(tmeas, dict):
                raise CertificateError("problem.data.teacher: expected a dict with 'particles' and 'masses'")
            samples = GaussianTeacher(tfam, Measure(tfam, decode(tmeas.get("particles"), "problem.data.teacher.particles"),
                                                    decode(tmeas.get("masses"), "problem.data.teacher.masses")),
                                      method="closed")
        backend = spec.get("backend", "numpy")
        if backend not in ("numpy", "jax"):
            raise CertificateError(f"problem.backend: expected 'numpy' or 'jax', got {str(backend)[:40]!r}")
        prob = Problem(fam, samples, loss=spec["loss"], reg=_unhex(spec["reg"], "problem.reg"), backend=backend)
        meas = spec["measure"]
        if not isinstance(meas, dict):
            raise CertificateError("problem.measure: expected a dict with 'particles' and 'masses'")
        mu = Measure(fam, decode(meas.get("particles"), "problem.measure.particles"),
                     decode(meas.get("masses"), "problem.measure.masses"),
                     None if "offset" not in meas else decode(meas["offset"], "problem.measure.offset"))
    except CertificateError:
        raise
    except MfsymError as exc:
        raise CertificateError(f"problem: inconsistent data or measure ({exc})") from None
    return prob, mu


# ---------------------------------------------------------------------------- claims
def _outcome(ball: flint.arb, relation: str, threshold: float) -> Outcome:
    t = flint.arb(float(threshold))
    if relation == "<":
        return Outcome.PROVED if ball < t else Outcome.REFUTED if ball >= t else Outcome.UNDECIDED
    if relation == "<=":
        return Outcome.PROVED if ball <= t else Outcome.REFUTED if ball > t else Outcome.UNDECIDED
    raise CertificateError(f"claim.relation: expected '<' or '<=', got {relation!r}")


def _claim(name: str, statement: str, relation: str, threshold: float, ball: flint.arb | None,
           reason: str = "", **data) -> dict:
    if ball is None:
        out, enc = Outcome.UNDECIDED, None
    else:
        out, enc = _outcome(ball, relation, threshold), to_interval_hex(ball)
    return {"name": name, "statement": statement, "relation": relation, "threshold": _hexf(threshold),
            "enclosure": enc, "outcome": out.value, "reason": reason or out.message, **data}


def certified_gap(claim: dict) -> float:
    r"""A rigorous lower bound on $|J_\mu(\hat\theta)|$ from a non-globality claim's enclosure (0 if none)."""
    enc = claim.get("enclosure")
    if claim.get("outcome") != "proved" or not (isinstance(enc, list) and len(enc) == 2):
        return 0.0
    hi = enc[1]
    return max(0.0, -(float(hi) if hi in ("-inf", "inf") else _unhex(hi, "claim.enclosure")))


def certified_upper(claim: dict) -> float:
    """The rigorous upper bound recorded by a proved ``exact-global`` claim (``inf`` if none)."""
    enc = claim.get("enclosure")
    if claim.get("outcome") != "proved" or not (isinstance(enc, list) and len(enc) == 2):
        return float("inf")
    return _unhex(enc[1], "claim.enclosure")


def stationarity_claim(prob, mu, tol: float) -> dict:
    """The scale-free stationarity residual (``Problem.relative_residual``) $\\le$ ``tol``: $\\max_{j,B}
    W_{jB}|\\nabla_B J_\\mu(\\theta_j)|$ and $w_\\beta|\\partial_\\beta L|$, with the float weights of
    ``Problem.stationarity_weights`` (recomputed by :func:`verify` from the certificate's own data)."""
    st = ("max_{j,B} W_jB |grad_B J_mu(theta_j)| (and w_beta |dL/dbeta|) <= tol (relative stationarity residual, "
          "W_jB = |c_j| s_B / S^2)")
    method = FB.method_for(prob, mu)  # float-rigorous bounds at scale (docs/certificates.md), else balls
    try:
        W, wb = prob.stationarity_weights(mu)
        if method == "float-rigorous":
            worst = FB.as_ball(*FB.FloatProblem(prob, mu.particles, mu.masses).relative_residual(W))
        else:
            worst = BallProblem(prob, mu.particles, mu.masses, offset=mu.offset).relative_residual(W, wb)
    except (Undecided, FB.FloatUndecided) as exc:
        return _claim("stationarity", st, "<=", tol, None, reason=str(exc), method=method)
    return _claim("stationarity", st, "<=", tol, worst, method=method)


def _nonglobal_quantity(bp: BallProblem, witness: np.ndarray, sign: int, kind: str, mu) -> flint.arb:
    J = bp.potential(balls(witness))
    if sign > 0:
        return -J
    if kind == "general":
        live = [j for j in range(bp.m) if mu.masses[j] != 0]
        mean = sum((bp.c[j] * bp.potential(bp.P[j]) for j in live), flint.arb(0))
        mean = mean / sum((bp.c[j] for j in live), flint.arb(0))
        return J - mean.min(flint.arb(0))
    return J


def nonglobality_claim(prob, mu, witness: np.ndarray, sign: int, kind: str) -> dict:
    """$J_\\mu(\\hat\\theta) < 0$ (sign -1), $J_\\mu(\\hat\\theta) > 0$ (sign +1, signed masses); for the
    general class also $J_\\mu(\\hat\\theta) < \\int J_\\mu d\\mu / \\int d\\mu$."""
    st = {(-1, "general"): "J_mu(w) - min(0, mean_mu J_mu) < 0 (adding mass at w lowers the loss)",
          (1, "general"): "-J_mu(w) < 0 (J_mu is not identically 0 on the sphere)"}.get(
        (sign, kind), "J_mu(w) < 0 (adding mass at w lowers the loss)" if sign < 0 else
        "-J_mu(w) < 0 (J_mu is not identically 0 on the sphere)")
    data = {"witness": encode(witness), "sign": int(sign), "kind": kind}
    try:
        q = _nonglobal_quantity(BallProblem(prob, mu.particles, mu.masses, offset=mu.offset), witness, sign, kind, mu)
    except Undecided as exc:
        return _claim("non-globality", st, "<", 0.0, None, reason=str(exc), **data)
    return _claim("non-globality", st, "<", 0.0, q, **data)


def exact_global_claim(prob, mu, gap_tol: float) -> dict:
    """The gap is at most ``gap_tol``, by the exact search over activation patterns of a piecewise-linear
    potential (:mod:`mfsym.meanfield._exact`): a rigorous upper bound $U$ of $-\\min_{|\\theta| = 1} J_\\mu$
    (or of $\\max J_\\mu$, $\\max|J_\\mu|$ by the masses' signs) from safe linear-programming bounds of the
    minimum over the $\\ell^\\infty$ ball, related to the sphere by homogeneity; claim $U \\le$ ``gap_tol``.
    ``verify`` re-runs the search from the certificate's data."""
    from ..meanfield import _exact as EX

    st = ("U <= gap_tol, U a rigorous upper bound of the gap on the unit sphere: branch and bound over activation "
          "patterns with safe LP bounds of min J on the l-inf ball, related to the sphere by homogeneity")
    pl, why = EX.applicable(prob)
    if pl is None:
        return _claim("exact-global", st, "<=", gap_tol, None, reason=f"no exact search: {why}",
                      method="branch-and-bound")
    try:
        res = EX.exact_search(prob, mu, pl, gap_tol, early=True)
    except Undecided as exc:
        return _claim("exact-global", st, "<=", gap_tol, None, reason=str(exc), method="branch-and-bound")
    if not res.complete:
        return _claim("exact-global", st, "<=", gap_tol, None, reason=EX.describe(res), method="branch-and-bound")
    return _claim("exact-global", st, "<=", gap_tol, flint.arb(res.upper), method="branch-and-bound")


def curvature_claim(prob, mu, direction: np.ndarray, radius: float = 0.0) -> dict:
    """$\\sup_{\\theta\\in\\mathrm{box}} v^\\top H(\\theta) v < 0$ (box of half-width ``radius``).

    With an output bias, $H$ is the Hessian of $\\min_\\beta F$ (the bias at its optimum over the box), whose
    negative curvature is negative curvature of the joint Hessian in $(\\theta, \\beta)$."""
    st = ("v^T H v < 0 at the point" if radius == 0 else
          "sup over the box |theta - theta_hat|_inf <= radius of v^T H(theta) v < 0")
    data = {"direction": encode(direction), "radius": _hexf(radius)}
    name = "negative-curvature" if radius == 0 else "negative-curvature-box"
    data["method"] = FB.method_for(prob, mu)
    try:
        if data["method"] == "float-rigorous":
            q = FB.as_ball(*FB.FloatProblem(prob, mu.particles, mu.masses, radius).quadratic_form(direction))
        else:
            q = BallProblem(prob, mu.particles, mu.masses, radius, offset=mu.offset,
                            profiled=True).quadratic_form(direction)
    except (Undecided, FB.FloatUndecided) as exc:
        return _claim(name, st, "<", 0.0, None, reason=str(exc), **data)
    return _claim(name, st, "<", 0.0, q, **data)


def _pd_margin(prob, mu, S: np.ndarray, sigma: float, lam: float, radius: float):
    """Enclosures of the Gershgorin margins proving $H(\\theta) + \\sigma SS^\\top - \\lambda I \\succ 0$ on
    the box and $X^\\top X \\succ 0$, with $X$ an approximate eigenbasis computed from the midpoint.

    The box Hessian is split as $H(\\theta) = M + E(\\theta)$, $M$ its (symmetrised) midpoint matrix and
    $|E_{ij}| \\le R_{ij}$ its radii, so $\\|E\\|_2 \\le \\rho = \\max_i \\sum_j R_{ij}$; Gershgorin then runs on the
    point matrix $X^\\top(M + \\sigma SS^\\top - (\\lambda + \\rho)I)X$, whose margin loses $\\rho$ rather than the
    $O(N\\rho)$ of the radii propagated through $X^\\top H X$. The first enclosure returned is the hull of that
    margin (the proof) and the unshifted one, so a failure caused by the box's width reads undecided, not
    refuted."""
    bp = BallProblem(prob, mu.particles, mu.masses, radius, offset=mu.offset, profiled=True)
    Hb = bp.hessian()
    N = Hb.nrows()
    Hb = (Hb + Hb.transpose()) * flint.arb(0.5)  # the true Hessian is symmetric: a symmetric enclosure
    rho = max((sum((flint.arb(Hb[i, j].rad()) for j in range(N)), flint.arb(0)).upper() for i in range(N)),
              default=flint.arb(0))
    Hb = flint.arb_mat(N, N, [Hb[i, j].mid() for i in range(N) for j in range(N)])
    if S.shape[1]:
        Sb = flint.arb_mat(N, S.shape[1], [float(v) for v in S.ravel()])
        Hb = Hb + (Sb * Sb.transpose()) * flint.arb(float(sigma))
    Hb = Hb - flint.arb_mat(N, N, [float(lam) if i == j else 0.0 for i in range(N) for j in range(N)])
    mid = np.array([[float(Hb[i, j].mid()) for j in range(N)] for i in range(N)])
    if not (np.all(np.isfinite(mid)) and rho.is_finite()):
        # some Hessian entry has no finite enclosure over the box (e.g. exp overflow at saturated units)
        raise Undecided("the Hessian enclosure over the box has non-finite entries; shrink the box or raise "
                        "the precision")
    _, X = np.linalg.eigh(0.5 * (mid + mid.T))
    Xb = flint.arb_mat(N, N, [float(v) for v in X.ravel()])
    C = Xb.transpose() * Hb * Xb
    E = Xb.transpose() * Xb
    shifted = C - E * flint.arb(rho)  # X^T (M + sigma S S^T - (lambda + rho) I) X
    return _gershgorin(shifted).union(_gershgorin(C)), _gershgorin(E), X


def _gershgorin(C: flint.arb_mat) -> flint.arb:
    """$\\min_i (C_{ii} - \\sum_{j\\ne i}|C_{ij}|)$ as a ball (> 0 proves a symmetric C positive definite)."""
    N = C.nrows()
    worst = None
    for i in range(N):
        off = sum((abs(C[i, j]) for j in range(N) if j != i), flint.arb(0))
        margin = C[i, i] - off
        worst = margin if worst is None else worst.min(margin)
    return worst


def positive_definite_claims(prob, mu, S: np.ndarray, sigma: float, lam: float, radius: float) -> list[dict]:
    """The strict-local-minimum certificate on the slice $\\hat\\theta + S^\\perp$ (docs/certificates.md).

    Claims: (1) $H(\\theta) + \\sigma SS^\\top \\succeq \\lambda I$ for every $\\theta$ in the box
    $|\\theta - \\hat\\theta|_\\infty \\le r$ (so $u^\\top H(\\theta) u \\ge \\lambda|u|^2$ for $u \\perp S$) --
    the Hessian is enclosed over the box from its exact formulas, which bounds the third derivative
    implicitly (mean-value form); (2) $|\\nabla F(\\hat\\theta)| < \\lambda r / 2$. Together:
    $F(\\hat\\theta + u) > F(\\hat\\theta)$ on the sphere $|u| = r$ of the slice, so the slice holds a
    unique critical point within $r$, a strict local minimum of $F$ restricted to the slice.
    """
    st1 = ("min_i Gershgorin margin of X^T (mid H(box) + sigma S S^T - (lambda + rho) I) X > 0, rho = max row sum "
           "of the radii of H(box) (and of X^T X)")
    st2 = "|grad F(theta_hat)| - lambda * radius / 2 < 0 (the stationarity residual is covered)"
    N = mu.particles.size
    if N > PD_LIMIT:
        # at scale the basis is recorded by its dimension (verify recomputes it), not as a dense (N, s) array
        data = {"symmetry_dim": int(S.shape[1]), "sigma": _hexf(sigma), "lambda_lower": _hexf(lam),
                "radius": _hexf(radius)}
        reason = (f"dense positive-definiteness certificate limited to m p <= {PD_LIMIT} (got {N}); no rigorous "
                  "lower bound on the transverse spectrum without the dense ball Hessian (the float Lanczos "
                  "value is numerical evidence only)")
        return [_claim("positive-definite", st1, "<", 0.0, None, reason=reason, **data),
                _claim("residual-covered", st2, "<", 0.0, None, reason=reason)]
    S = S.toarray() if hasattr(S, "toarray") else S  # a sparse symmetry basis (Symmetries.sparse)
    data = {"symmetry_basis": encode(S), "sigma": _hexf(sigma), "lambda_lower": _hexf(lam), "radius": _hexf(radius)}
    try:
        mC, mE, _ = _pd_margin(prob, mu, S, sigma, lam, radius)
        _, gnorm = BallProblem(prob, mu.particles, mu.masses, offset=mu.offset, profiled=True).particle_gradient_norm()
    except Undecided as exc:
        return [_claim("positive-definite", st1, "<", 0.0, None, reason=str(exc), **data),
                _claim("residual-covered", st2, "<", 0.0, None, reason=str(exc))]
    both = (-mC).max(-mE)  # < 0 iff both margins > 0
    cover = gnorm - flint.arb(float(lam)) * flint.arb(float(radius)) / 2
    return [_claim("positive-definite", st1, "<", 0.0, both, **data),
            _claim("residual-covered", st2, "<", 0.0, cover)]


# ---------------------------------------------------------------------------- verify
def _recompute(prob, mu, claim: dict, claims: list[dict]) -> dict:
    name = claim.get("name")
    if name == "stationarity":
        return stationarity_claim(prob, mu, _unhex(claim.get("threshold"), "claim.threshold"))
    if name == "non-globality":
        w = decode(claim.get("witness"), "claim.witness").ravel()
        sign, kind = claim.get("sign"), claim.get("kind")
        if sign not in (-1, 1) or kind not in ("output-linear", "homogeneous", "general"):
            raise CertificateError(f"claim non-globality: bad sign {sign!r} or kind {kind!r}")
        if w.size != prob.family.p:
            raise CertificateError(f"claim.witness: expected {prob.family.p} values, got {w.size}")
        return nonglobality_claim(prob, mu, w, sign, kind)
    if name == "exact-global":
        return exact_global_claim(prob, mu, _unhex(claim.get("threshold"), "claim.threshold"))
    if name in ("negative-curvature", "negative-curvature-box"):
        v = decode(claim.get("direction"), "claim.direction")
        if v.shape != mu.particles.shape:
            raise CertificateError(f"claim.direction: expected shape {mu.particles.shape}, got {v.shape}")
        return curvature_claim(prob, mu, v, _unhex(claim.get("radius"), "claim.radius"))
    if name in ("positive-definite", "residual-covered"):
        pd = claim if name == "positive-definite" else next((c for c in claims if c.get("name") == "positive-definite"), {})
        if "symmetry_basis" not in pd and "symmetry_dim" in pd and mu.particles.size > PD_LIMIT:
            sym = symmetries(prob, mu)  # at scale: the basis is recomputed, its dimension must match
            if pd.get("symmetry_dim") != sym.dim:
                return {**claim, "outcome": "refuted", "relation": "symmetry basis differs"}
            return positive_definite_claims(prob, mu, sym.sparse, _unhex(pd.get("sigma"), "claim.sigma"),
                                            _unhex(pd.get("lambda_lower"), "claim.lambda_lower"),
                                            _unhex(pd.get("radius"), "claim.radius"))[name == "residual-covered"]
    if name == "positive-definite":
        S = decode(claim.get("symmetry_basis"), "claim.symmetry_basis")
        if S.ndim != 2 or S.shape[0] != mu.particles.size:
            raise CertificateError(f"claim.symmetry_basis: expected shape ({mu.particles.size}, s), got {S.shape}")
        if not _same_span(S, prob, mu):
            return {**claim, "outcome": "refuted", "relation": "symmetry basis differs"}
        return positive_definite_claims(prob, mu, S, _unhex(claim.get("sigma"), "claim.sigma"),
                                        _unhex(claim.get("lambda_lower"), "claim.lambda_lower"),
                                        _unhex(claim.get("radius"), "claim.radius"))[0]
    if name == "residual-covered":
        pd = next((c for c in claims if c.get("name") == "positive-definite"), None)
        if pd is None:
            raise CertificateError("claim residual-covered: needs a positive-definite claim")
        S = decode(pd.get("symmetry_basis"), "claim.symmetry_basis")
        return positive_definite_claims(prob, mu, S, _unhex(pd.get("sigma"), "claim.sigma"),
                                        _unhex(pd.get("lambda_lower"), "claim.lambda_lower"),
                                        _unhex(pd.get("radius"), "claim.radius"))[1]
    if name == "escaping-set":
        return _recompute_escaping(prob, mu, claim)
    raise CertificateError(f"claim.name: unknown claim {name!r}")


def _recompute_escaping(prob, mu, claim: dict) -> dict:
    """An ``escaping-set`` claim re-proved from its own region (mfsym.meanfield._escape), nothing trusted."""
    from ..meanfield import _escape

    kind, sign = claim.get("kind"), claim.get("sign")
    if kind not in ("homogeneous", "output-linear") or isinstance(sign, bool) or sign not in (-1, 1):
        raise CertificateError(f"claim escaping-set: bad kind {str(kind)[:40]!r} or sign {str(sign)[:10]!r}")
    level = _unhex(claim.get("level"), "claim.level")
    radius = _unhex(claim.get("radius"), "claim.radius")
    angle = _unhex(claim.get("angle"), "claim.angle")
    if not (0 < level < math.inf and 0 <= radius < math.inf and 0 <= angle <= math.pi / 2):
        raise CertificateError("claim escaping-set: expected level > 0, radius >= 0 and 0 <= angle <= pi/2")
    w = decode(claim.get("witness"), "claim.witness").ravel()
    if w.size != prob.family.p:
        raise CertificateError(f"claim.witness: expected {prob.family.p} values, got {w.size}")
    if structure(prob).kind != kind or not _escape.usable_witness(kind, structure(prob), w):
        return {**claim, "outcome": "refuted", "reason": "the region does not fit the problem's class"}
    return _escape.claim(prob, mu, kind, sign, level, w, radius, angle)


def _same_span(S: np.ndarray, prob, mu) -> bool:
    """Whether ``S`` spans exactly the symmetry directions recomputed from the problem."""

    B = symmetries(prob, mu).basis
    if S.shape[1] == 0 or B.shape[1] == 0:
        return S.shape[1] == B.shape[1] == 0
    Qs, Qb = sla.orth(S), sla.orth(B)
    if Qs.shape[1] != Qb.shape[1]:
        return False
    return bool(np.linalg.norm(Qs @ Qs.T - Qb @ Qb.T) <= 1e-8)


def _same_enclosure(a: Any, b: Any, method: str = "arb") -> bool:
    if a is None or b is None:
        return a is None and b is None
    if not (isinstance(a, list) and len(a) == 2):
        raise CertificateError(f"claim.enclosure: expected [lo, hi] hex strings or null, got {a!r}")
    lo1, hi1 = (_unhex(v, "claim.enclosure") if v not in ("-inf", "inf") else float(v) for v in a)
    lo2, hi2 = (float.fromhex(v) if v not in ("-inf", "inf") else float(v) for v in b)
    scale = max(abs(lo2), abs(hi2), 1e-300)
    if method == "float-rigorous":
        # BLAS may sum in another order elsewhere: both intervals are rigorous, so they must overlap, and
        # the recorded endpoints must lie within a quarter of the recomputed width (the outcome is recomputed)
        slack = 1e-12 * scale + 0.25 * (hi2 - lo2)
        return lo1 <= hi2 and lo2 <= hi1 and abs(lo1 - lo2) <= slack and abs(hi1 - hi2) <= slack
    return abs(lo1 - lo2) <= 1e-12 * scale and abs(hi1 - hi2) <= 1e-12 * scale


#: top-level keys of a certificate: every one is re-checked by :func:`verify` except the inert metadata
CHECKED_KEYS = ("format", "precision_bits", "problem", "tol", "gap_tol", "inputs_sha256", "residual_float", "claims",
                "verdict", "finite_width", "mean_field_search")
INERT_KEYS = ("mfsym_version",)
#: claim fields that carry a witness (a vector or basis found numerically) rather than a statement
WITNESS_KEYS = ("witness", "direction", "symmetry_basis", "enclosure")
CLAIM_NAMES = ("stationarity", "non-globality", "negative-curvature", "negative-curvature-box", "positive-definite",
               "residual-covered", "exact-global", "escaping-set")
VERDICTS = ("global-minimizer", "unstable", "not-stationary", "inconclusive")
#: relative agreement required of the finite-width spectrum summary recomputed by :func:`verify`
SPECTRUM_RTOL = 1e-6


def _claims_fit_the_problem(claims: list[dict], kind: str, sign_rule: int) -> bool:
    """Non-globality claims must be of the problem's class, with a sign its masses allow (docs/mathematics.md, global optimality)."""
    for c in claims:
        if c.get("name") == "escaping-set" and (c.get("kind") != kind or (sign_rule != 0 and c.get("sign") != sign_rule)):
            return False  # a set for particles of a sign the masses do not have, or of another class
        if c.get("name") != "non-globality":
            continue
        if c.get("kind") != kind or kind == "general":
            return False
        if kind == "homogeneous" and sign_rule != 0 and c.get("sign") != sign_rule:
            return False
    return sum(c.get("name") == "non-globality" for c in claims) <= 1


def _load(certificate: Any) -> dict:
    """The certificate as a dict with its mandatory keys and their types checked (else CertificateError)."""
    if isinstance(certificate, bytes):
        try:
            certificate = certificate.decode("utf-8")
        except UnicodeDecodeError:
            raise CertificateError("certificate: not UTF-8 text (expected certificate JSON)") from None
    if isinstance(certificate, str):
        try:
            certificate = json.loads(certificate)
        except (ValueError, RecursionError) as exc:
            raise CertificateError(f"certificate: not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(certificate, dict):
        raise CertificateError(f"certificate: expected a dict or JSON text, got {type(certificate).__name__}")
    if certificate.get("format") == "mfsym-certificate/1":
        raise CertificateError("certificate.format: 'mfsym-certificate/1' (mfsym before the scale-free stationarity "
                               "claim) is no longer verified; run `check` again to make a version-2 certificate")
    if certificate.get("format") != FORMAT:
        raise CertificateError(f"certificate.format: expected {FORMAT!r}, got {str(certificate.get('format'))[:80]!r}")
    for key in ("problem", "claims", "verdict", "precision_bits", "inputs_sha256", "mfsym_version"):
        if key not in certificate:
            raise CertificateError(f"certificate: missing key {key!r}")
    claims = certificate["claims"]
    if not isinstance(claims, list) or not all(isinstance(c, dict) for c in claims):
        raise CertificateError("certificate.claims: expected a list of claim dicts")
    for claim in claims:
        for key in ("name", "relation", "threshold", "enclosure", "outcome"):
            if key not in claim:
                raise CertificateError(f"claim: missing key {key!r} in {str(claim)[:80]}")
        if not isinstance(claim["name"], str) or claim["name"] not in CLAIM_NAMES:
            raise CertificateError(f"claim.name: unknown claim {str(claim['name'])[:40]!r}")
        if not isinstance(claim["outcome"], str) or claim["outcome"] not in [o.value for o in Outcome]:
            raise CertificateError(f"claim.outcome: expected one of {[o.value for o in Outcome]}, got "
                                   f"{str(claim.get('outcome'))[:40]!r}")
        if claim["relation"] not in ("<", "<="):
            raise CertificateError(f"claim.relation: expected '<' or '<=', got {str(claim['relation'])[:40]!r}")
        _unhex(claim["threshold"], "claim.threshold")
        enc = claim["enclosure"]
        if enc is not None:
            if not (isinstance(enc, list) and len(enc) == 2):
                raise CertificateError(f"claim.enclosure: expected [lo, hi] hex strings or null, got {str(enc)[:40]!r}")
            for v in enc:
                if v not in ("-inf", "inf"):
                    _unhex(v, "claim.enclosure")
    verdict = certificate["verdict"]
    if not isinstance(verdict, str) or verdict not in VERDICTS:
        raise CertificateError(f"certificate.verdict: expected one of {list(VERDICTS)}, got {str(verdict)[:80]!r}")
    tol, gap_tol = certificate.get("tol"), certificate.get("gap_tol")
    if isinstance(tol, bool) or not isinstance(tol, float) or not tol > 0:
        raise CertificateError(f"certificate.tol: expected a positive float, got {repr(tol)[:60]}")
    if isinstance(gap_tol, bool) or not isinstance(gap_tol, float) or not gap_tol > 0:
        raise CertificateError(f"certificate.gap_tol: expected a positive float, got {repr(gap_tol)[:60]}")
    from .._ball import check_precision

    check_precision(certificate["precision_bits"])
    if not isinstance(certificate["inputs_sha256"], str):
        raise CertificateError("certificate.inputs_sha256: expected a hex string")
    for key in ("finite_width", "mean_field_search"):
        if certificate.get(key) is not None and not isinstance(certificate[key], dict):
            raise CertificateError(f"certificate.{key}: expected a dict or null, got {type(certificate[key]).__name__}")
    types = {"finite_width": {"classification": str, "certified": bool, "lambda_min": (float, str),
                              "lambda_max": (float, str), "symmetry_dim": int},
             "mean_field_search": {"gap_value": (float, str), "gap_tol": float, "kind": str, "method": str,
                                   "at_infinity": bool, "seed": int, "restarts": int, "class_reason": str,
                                   "escaping": bool}}
    for block, fields in types.items():
        for key, typ in fields.items():
            val = (certificate.get(block) or {}).get(key)
            wrong = val is not None and (not isinstance(val, typ) or (isinstance(val, bool) and typ is not bool)
                                         or (isinstance(val, str) and typ == (float, str)
                                             and val not in ("nan", "inf", "-inf")))  # str: non-finite only
            if wrong:
                raise CertificateError(f"certificate.{block}.{key}: expected {getattr(typ, '__name__', 'a number')}, "
                                       f"got {repr(val)[:60]}")
    rf = certificate.get("residual_float")
    if rf is not None and (isinstance(rf, bool) or not isinstance(rf, float)):
        raise CertificateError(f"certificate.residual_float: expected a float, got {repr(rf)[:60]}")
    search = certificate.get("mean_field_search") or {}
    for key in ("seed", "restarts"):
        v = search.get(key, 0 if key == "seed" else 1)
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "seed" else 1) or v > 2**63:
            raise CertificateError(f"certificate.mean_field_search.{key}: expected an int, got {str(v)[:40]!r}")
    return certificate


def _same_claim(rec: dict, again: dict) -> bool:
    """Every field of a recorded claim equals the recomputed one (the enclosure to the method's tolerance)."""
    if set(rec) != set(again):
        return False
    method = again.get("method", "arb")
    for key, val in again.items():
        if key == "enclosure":
            if method == "branch-and-bound":
                if (rec[key] is None) != (val is None):
                    return False
                if val is not None:  # LP solvers may round differently elsewhere: the outcome is the proof
                    lo1, hi1 = (_unhex(v, "claim.enclosure") for v in rec[key]) if isinstance(rec[key], list) \
                        and len(rec[key]) == 2 else (None, None)
                    if lo1 is None:
                        raise CertificateError(f"claim.enclosure: expected [lo, hi] hex strings, got {rec[key]!r}")
                    hi2 = float.fromhex(val[1])
                    if abs(hi1 - hi2) > 1e-6 * max(abs(hi2), _unhex(again["threshold"], "claim.threshold")):
                        return False
            elif not _same_enclosure(rec[key], val, method):
                return False
        elif rec[key] != val:
            return False
    return True


def _same_summary(rec: Any, again: Any, floats: tuple[str, ...], rtol: float, scale_key: str | None = None) -> bool:
    """Two JSON summaries agree: the same keys, floats in ``floats`` to ``rtol``, everything else exactly."""
    if rec is None or again is None:
        return rec is None and again is None
    if set(rec) != set(again):
        return False
    scale = 1.0
    if scale_key is not None and isinstance(again.get(scale_key), float):
        scale = max(1.0, abs(again[scale_key]))
    for key, val in again.items():
        got = rec[key]
        if key in floats and isinstance(val, float) and math.isfinite(val):
            if isinstance(got, bool) or not isinstance(got, (int, float)) or not math.isfinite(got):
                return False
            if abs(got - val) > rtol * max(scale, abs(val)):
                return False
        elif got != val or type(got) is not type(val):
            return False
    return True


def verify(certificate: Any, *, precision_bits: int | None = None) -> bool | None:
    """Recompute every inequality of a certificate from its own data, and every conclusion drawn from them.

    Parameters
    ----------
    certificate : dict or str
        A certificate (``Report.certificate``) or its JSON text.

    Returns
    -------
    True
        Every claim recomputes to its recorded fields, enclosure and outcome; the inputs match their digest;
        and re-running ``mf.check`` on the recorded problem, measure and settings (seed, restarts, tolerances,
        precision) gives the same claims, verdict, finite-width summary, mean-field search summary and
        stationarity residual (docs/certificates.md lists what is re-checked and what is inert metadata).
    False
        Anything differs (changed data, witness, bound, statement, outcome, verdict, summary, a deleted or
        added claim or block, an unknown key).
    None
        The certificate cannot be recomputed here (e.g. population data without a ball-arithmetic
        kernel).

    Raises
    ------
    CertificateError
        The certificate is malformed (missing keys, wrong types, undecodable numbers, hostile expressions).
    """
    cert = _load(certificate)
    if set(cert) - set(CHECKED_KEYS) - set(INERT_KEYS):
        return False  # a field verify does not know would be read as a claim it never checked
    bits = cert["precision_bits"] if precision_bits is None else precision_bits
    if inputs_digest(cert) != cert["inputs_sha256"]:
        return False
    built = rebuild(cert["problem"])
    if built == "mismatch":
        return False
    if built is None:
        return None
    prob, mu = built
    claims = cert["claims"]
    # 1. re-run the check on the recorded inputs and settings
    from ._check import check

    search = cert.get("mean_field_search") or {}
    try:
        rep = check(prob, mu, tol=cert["tol"], gap_tol=cert["gap_tol"], seed=search.get("seed", 0),
                    precision_bits=bits, escaping=search.get("escaping", False) is True,
                    restarts=search.get("restarts", 12), progress=False)
    except CertificateError:
        raise
    except MfsymError as exc:
        raise CertificateError(f"certificate: its settings are not valid for mf.check ({exc})") from None
    again = rep.certificate
    if [c["name"] for c in claims] != [c["name"] for c in again["claims"]]:
        return False  # a claim was deleted, added or reordered
    # 2. every recorded claim: equal to the re-run's, or recomputed from its own witnesses
    with precision(bits):
        for rec, new in zip(claims, again["claims"]):
            if _same_claim(rec, new):
                continue
            if rec["name"] == "escaping-set":
                # another region (the re-run's witness or level may differ in the last bits): the recorded
                # region must re-prove from its own data, for the same kind and sign as the re-run's
                if (rec.get("kind"), rec.get("sign")) != (new.get("kind"), new.get("sign")):
                    return False
                lv, lv_new = _unhex(rec.get("level"), "claim.level"), float.fromhex(new["level"])
                if abs(lv - lv_new) > 1e-6 * abs(lv_new):
                    return False
                if not _same_claim(rec, _recompute_escaping(prob, mu, rec)):
                    return False
                continue
            # the re-run found other witnesses: the rest of the claim must be the re-run's, and the recorded
            # witnesses must recompute to the recorded claim with the re-run's outcome
            if {k: v for k, v in rec.items() if k not in WITNESS_KEYS} != \
                    {k: v for k, v in new.items() if k not in WITNESS_KEYS}:
                return False
            redo = _recompute(prob, mu, rec, claims)
            if not _same_claim(rec, redo) or redo["outcome"] != new["outcome"]:
                return False
    # 3. the conclusions
    if cert["verdict"] != again["verdict"]:
        return False
    if not _same_summary(cert.get("finite_width"), again.get("finite_width"), ("lambda_min", "lambda_max"),
                         SPECTRUM_RTOL, "lambda_max"):
        return False
    if not _same_summary(cert.get("mean_field_search"), again.get("mean_field_search"), ("gap_value",), FLOAT_RTOL):
        return False
    rf = cert.get("residual_float")
    residual = again["residual_float"]
    if isinstance(rf, bool) or not isinstance(rf, float) or abs(rf - residual) > FLOAT_RTOL * max(abs(residual), 1e-8):
        return False
    if not _claims_fit_the_problem(claims, structure(prob).kind, cone_sign(mu)):
        return False
    return True
