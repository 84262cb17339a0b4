"""No-false-instability campaign: ``mf.check`` never claims instability at a point known to be global.

For a global minimizer of the mean-field problem ($L(\\mu) = \\min L$, here $L(\\mu) = 0$ with zero
residual $r_i = f_\\mu(x_i) - y_i = 0$) the potential $J_\\mu \\equiv 0$ (docs/mathematics.md, first variation and flow), so there is no
witness with $J_\\mu(\\hat\\theta) < 0$ (q-homogeneous) or $|G_\\mu(\\eta)| > 0$ (output-linear) and no
escaping set (Chizat & Bach 2018, arXiv 1805.09545, Prop. 3.3; Petit, Poon & Peyré 2026, arXiv
2605.10775). A verdict ``"unstable"`` -- or a certificate with a *proved* non-globality claim -- at such
a point is a false claim. The campaign builds cases whose answer is known to be "not unstable":

* ``teacher=student`` -- samples labelled by a teacher measure, the student is the teacher;
* ``population`` -- a Gaussian population (closed-form relu / erf kernels) whose teacher is the student;
* ``interp-mass`` -- exact interpolation: width $m \\ge nk$ random particles, masses solved so that
  $f_\\mu(x_i) = y_i$ for random labels;
* ``interp-outer`` -- output-linear families: inner parameters random, positive masses $1/m$, the outer
  block $A$ solved so that $f_\\mu(x_i) = y_i$;
* ``zero-target`` -- $y = 0$ and a measure whose outputs vanish: pairs $(\\theta, +c), (\\theta, -c)$,
  zero outer blocks, or relu neurons dead on every sample;

and near-degenerate variants of the global minimizers above:

* ``perturbed-1e-k`` -- particles moved by $\\delta\\,N(0, I)$, $\\delta \\in \\{10^{-9}, .., 10^{-6}\\}$ (these points
  are not exactly global; a correct answer is "not-stationary" or "global-minimizer", and the tool's
  tolerances must keep it from claiming instability);
* ``duplicated`` -- one particle split into two identical copies of half the mass (still global);
* ``zero-mass`` -- a random extra particle of mass 0 (still global);

classes added from the failures found by adversarial review (docs/analyses.md, the campaign):

* ``split`` -- one particle split into two copies with masses $0.3c$ and $0.7c$; for homogeneous families
  also ``split-scaled``, the copies at $t\\theta$ and $\\theta/t$ with masses rescaled by $t^{-q}$, $t^{q}$
  (the same $f_\\mu$ by homogeneity); ``permuted`` -- the particles in another order (all still global);
* ``negative-masses`` -- relu with fixed outputs and every mass negative (the sign rule of the negative
  cone), teacher = student (global);
* ``unbounded`` -- custom output-linear neurons with an unbounded feature and no homogeneity
  ($a\\,e^{w^\\top x}$, $a(z + z^3)$): the general class, where no global-optimality criterion applies, so
  neither ``global-minimizer`` nor ``unstable`` may be claimed;
* ``rescaled-1e+k`` -- labels and masses multiplied by $10^{\\pm 4}$ (still global) and the perturbed
  variant ``rescaled-perturbed``, checked with the default (absolute) ``gap_tol``;
* ``dead-neuron`` -- NOT global: relu with fixed outputs and bias, positive (or, ``dead-neuron-neg``,
  negative) masses, live neurons inactive on the few samples of an extra teacher neuron, and one neuron dead
  on every sample. The residual is non-zero only on those samples, so the point is exactly stationary, and
  $J < 0$ (or $> 0$) only on the small cap of directions that activate them. A false claim here is
  ``global-minimizer``; a correct answer is ``unstable`` (or ``inconclusive``).

A false claim is: at a global minimizer, the verdict ``unstable``, a proved non-globality claim or a proved
escaping-set claim; at a point that is not global, the verdict ``global-minimizer``.

Families: relu (trained outputs, with and without bias), relu with fixed outputs (signed masses),
sigmoid (scalar and vector outputs), tanh, erf, attention, deconvolution and two custom neurons.
Sizes (input dimension, n, widths) and seeds vary with the round. Each case is checked with
``mf.check`` (default tolerances) and its certificate re-verified with ``mf.verify``.

A case where ``mf.check`` raises is counted as ``error`` (a bug, not a claim) and listed.

Measured (seed 0; docs/analyses.md, the campaign): quick, 141 cases, 0 false claims, 0 crashes, every
certificate verified, the 2 dead-neuron points ``unstable`` with a proved escaping-set claim; 395 s on a
heavily loaded 2-core machine, 34 % of it on the added classes. Full (before the added classes): 1110
cases, 0 false claims.

Run ``python analyses/false_instability_campaign.py`` (full: ~1480 cases) or ``--quick`` (~140 cases).
It prints a table family x kind x verdict and the number of false claims (must be 0), and returns a dict
from :func:`run`.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

import numpy as np
import sympy as sp

import mfsym as mf

VERDICTS = ("global-minimizer", "not-stationary", "inconclusive", "unstable", "error")


# ------------------------------------------------------------------------------------------------ families
def _custom_poly(d: int):
    u, x = sp.symbols("u x")
    return mf.families.from_expr(u**2 * sp.sin(x) + u * x, params={"u": ()}, inputs={"x": ()}, name="custom-poly")


def _custom_tanh(d: int):
    w = sp.MatrixSymbol("w", 2, 1)
    x = sp.MatrixSymbol("x", 2, 1)
    a = sp.Symbol("a")
    return mf.families.from_expr(a * sp.tanh((w.T * x)[0, 0]), params={"a": (), "w": (2,)}, inputs={"x": (2,)},
                                 name="custom-tanh")


FAMILIES = {  # name -> factory of the input dimension d in {1, 2, 3} (cycled with the round)
    "relu": lambda d: mf.families.relu(d=d),
    "relu-bias": lambda d: mf.families.relu(d=d, bias=True),
    "relu-fixed": lambda d: mf.families.relu(d=d, outputs=0, bias=True),
    "sigmoid": lambda d: mf.families.sigmoid(d=min(d, 2), outputs=1),
    "sigmoid-vec": lambda d: mf.families.sigmoid(d=min(d, 2), outputs=2),
    "tanh": lambda d: mf.families.tanh(d=min(d, 2)),
    "erf": lambda d: mf.families.erf(d=d, bias=False),
    "attention": lambda d: mf.families.attention(d=2, outputs=1 + d % 2, tokens=2),
    "deconvolution": lambda d: mf.families.deconvolution(d=1 + (d == 3), width="1/2"),
    "custom-poly": _custom_poly,
    "custom-tanh": _custom_tanh,
}
POPULATION = {  # closed-form Gaussian populations (bias-free relu and erf)
    "relu": lambda d: mf.families.relu(d=d),
    "erf": lambda d: mf.families.erf(d=d, bias=False),
}
PERTURB = (1e-9, 1e-8, 1e-7, 1e-6)
_cache: dict = {}


def _family(table: dict, name: str, d: int):
    key = (id(table), name, d)
    if key not in _cache:  # families compile their kernels once
        _cache[key] = table[name](d)
    return _cache[key]


# ------------------------------------------------------------------------------------------------ cases
def _inputs(fam, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((n,) + fam.input_shape)


def _teacher_student(fam, rng, n, m):
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=m, n=n, seed=int(rng.integers(2**31)))
    return mf.Problem(fam, data), teacher


def _interp_mass(fam, rng, n, m):
    """Random particles, width m >= n k, masses c solving the (n k) x m linear system f_mu(x_i) = y_i."""
    k = fam.out_dim
    for attempt in range(_TRIES):  # redraw until the feature matrix has full row rank; fewer samples if
        n = max(1, n - (attempt > 0 and attempt % 5 == 0))  # the family cannot reach rank n (relu, d = 1)
        X, Y = _inputs(fam, n, rng), rng.standard_normal((n, k))
        prob = mf.Problem(fam, mf.Samples(X, Y))
        width = n * k + int(rng.integers(0, 2))
        P = fam.random_particles(width, rng)
        Phi = fam.phi(P, X).transpose(1, 2, 0).reshape(n * k, width)  # (n k, m)
        c = np.linalg.lstsq(Phi, Y.ravel(), rcond=None)[0]
        mu = mf.Measure(fam, P, c)
        if _exact(prob, mu):
            return prob, mu
    raise RuntimeError(f"interp-mass: no interpolating measure found for {fam!r}")


_TRIES = 50


def _exact(prob, mu) -> bool:
    """Zero loss to rounding: L(mu) <= 1e-24 (1/2n sum |y_i|^2)."""
    return prob.loss(mu) <= 1e-24 * max(1.0, 0.5 * float(np.mean(np.sum(prob.data.Y ** 2, axis=1))))


def _interp_outer(fam, rng, n, m):
    """Output-linear: positive masses 1/m, random inner parameters, the outer block A_j solved exactly."""
    k = fam.out_dim
    for attempt in range(_TRIES):
        n = max(1, n - (attempt > 0 and attempt % 5 == 0))
        X, Y = _inputs(fam, n, rng), rng.standard_normal((n, k))
        prob = mf.Problem(fam, mf.Samples(X, Y))
        width = n + int(rng.integers(0, 2))
        blocks = fam.unpack(fam.random_particles(width, rng))
        etas = np.concatenate([blocks[b].reshape(width, -1) for b in fam.inner], axis=1)
        psi = fam.feature(etas, X)  # (m, n, q)
        q = psi.shape[2]
        D = (psi / width).transpose(1, 0, 2).reshape(n, width * q)  # f_k(x_i) = sum_{j,s} D[i, (j,s)] A_j[k, s]
        A = np.linalg.lstsq(D, Y, rcond=None)[0].reshape(width, q, k).transpose(0, 2, 1)  # (m, k, q)
        blocks[fam.outer] = A.reshape((width,) + fam.blocks[fam.outer])
        mu = mf.Measure(fam, fam.pack(**blocks))
        if _exact(prob, mu):
            return prob, mu
    raise RuntimeError(f"interp-outer: no interpolating measure found for {fam!r}")


def _zero_target(fam, rng, n, m):
    """y = 0 and f_mu = 0: opposite-mass pairs, zero outer blocks, or relu neurons dead on the data."""
    X = _inputs(fam, n, rng)
    data = mf.Samples(X, np.zeros((n, fam.out_dim)))
    style = int(rng.integers(3))
    if style == 1 and isinstance(fam, mf.families.OutputLinear):
        blocks = fam.unpack(fam.random_particles(m, rng))
        blocks[fam.outer] = np.zeros_like(blocks[fam.outer])
        return mf.Problem(fam, data), mf.Measure(fam, fam.pack(**blocks))
    if style == 2 and fam.name == "relu" and "b" in fam.blocks:
        blocks = fam.unpack(fam.random_particles(m, rng))  # b below -max_i |w . x_i|: dead on every sample
        blocks["b"] = -1.0 - np.abs(np.einsum("jd,nd->jn", blocks["w"], X)).max(axis=1)
        return mf.Problem(fam, data), mf.Measure(fam, fam.pack(**blocks), rng.uniform(0.2, 1.0, m))
    P = fam.random_particles(m, rng)
    c = rng.uniform(0.2, 1.0, m)
    return mf.Problem(fam, data), mf.Measure(fam, np.concatenate([P, P]), np.concatenate([c, -c]))


def _population(fam, rng, n, m):
    teacher = mf.Measure(fam, fam.random_particles(m, rng), rng.uniform(0.3, 1.0, m))
    return mf.Problem(fam, mf.GaussianTeacher(fam, teacher)), teacher


def _perturb(mu, delta, rng):
    return mu.copy(particles=mu.particles + delta * rng.standard_normal(mu.particles.shape))


def _duplicate(mu, rng):
    j = int(rng.integers(mu.m))
    P = np.concatenate([mu.particles, mu.particles[j:j + 1]])
    c = np.concatenate([mu.masses, mu.masses[j:j + 1] / 2])
    c[j] /= 2
    return mu.copy(particles=P, masses=c)


def _zero_mass(mu, rng):
    extra = mu.family.random_particles(1, rng)
    return mu.copy(particles=np.concatenate([mu.particles, extra]), masses=np.concatenate([mu.masses, [0.0]]))


def _split(mu, rng, scaled: bool):
    """One particle in two copies (masses 0.3 c, 0.7 c); ``scaled``: at t theta, theta / t, masses by t^-q, t^q."""
    j = int(rng.integers(mu.m))
    th, c = mu.particles[j], mu.masses[j]
    t, q = (1.7, int(mu.family.degree)) if scaled else (1.0, 0)
    P = np.concatenate([np.delete(mu.particles, j, 0), [t * th, th / t]])
    masses = np.concatenate([np.delete(mu.masses, j), [0.3 * c / t**q, 0.7 * c * t**q]])
    return mu.copy(particles=P, masses=masses)


def _permuted(mu, rng):
    order = rng.permutation(mu.m)
    return mu.copy(particles=mu.particles[order], masses=mu.masses[order])


def _negative_masses(fam, rng, n, m):
    """relu with fixed outputs, every mass negative, teacher = student (global)."""
    teacher = mf.Measure(fam, fam.random_particles(m, rng), -rng.uniform(0.3, 1.0, m))
    data, _ = mf.datasets.teacher_student(fam, teacher, n=n, seed=int(rng.integers(2**31)))
    return mf.Problem(fam, data), teacher


def _dead_neuron(fam, rng, n, m, sign: float = 1.0):
    """NOT global (docs/analyses.md): ``m`` live neurons silent on the samples R where none is active, one neuron
    dead on every sample, and the residual non-zero on R only -- ``-sign beta`` on the k samples S furthest
    along a direction v, ``+sign rho`` on the rest of R -- so the point is exactly stationary, and
    ``sign J < 0`` only on the small cap of directions that activate S and few other samples of R."""
    d = fam.blocks["w"][0]
    X = rng.standard_normal((n, d))
    v = rng.standard_normal(d)
    v /= np.linalg.norm(v)
    k = int(rng.integers(1, 3))
    S = np.zeros(n, bool)
    S[np.argsort(X @ v)[::-1][:k]] = True
    W = rng.standard_normal((m, d))
    # live neurons inactive on S and active on about a fifth of the samples, so that R is large
    b = -np.maximum(np.max(X[S] @ W.T, axis=0), np.quantile(X @ W.T, 0.8, axis=0)) - rng.uniform(0.05, 0.5, m)
    W_dead = rng.standard_normal(d)
    b_dead = -1.0 - np.max(np.abs(X @ W_dead))
    P = fam.pack(w=np.vstack([W, W_dead]), b=np.concatenate([b, [b_dead]]))
    masses = sign * rng.uniform(0.3, 1.0, m + 1)
    f = fam.phi(P, X)[:, :, 0].T @ masses
    R = np.all(X @ W.T + b <= 0, axis=1)                           # no live neuron active: residual allowed
    r = np.where(S, -rng.uniform(1.0, 2.0), np.where(R, rng.uniform(0.5, 1.0), 0.0))
    return mf.Problem(fam, mf.Samples(X, f - sign * r)), mf.Measure(fam, P, masses)


def _unbounded_exp(d: int):
    w = sp.MatrixSymbol("w", d, 1)
    x = sp.MatrixSymbol("x", d, 1)
    a = sp.Symbol("a")
    return mf.families.from_expr(a * sp.exp((w.T * x)[0, 0]), params={"a": (), "w": (d,)}, inputs={"x": (d,)},
                                 name="custom-exp")


def _unbounded_cubic(d: int):
    w = sp.MatrixSymbol("w", d, 1)
    x = sp.MatrixSymbol("x", d, 1)
    a = sp.Symbol("a")
    z = (w.T * x)[0, 0]
    return mf.families.from_expr(a * (z + z**3), params={"a": (), "w": (d,)}, inputs={"x": (d,)},
                                 name="custom-cubic")


UNBOUNDED = {"custom-exp": _unbounded_exp, "custom-cubic": _unbounded_cubic}
DEAD = {"relu-fixed": lambda d: mf.families.relu(d=d, outputs=0, bias=True)}
#: kinds whose point is known NOT to be a global minimizer (a false claim is "global-minimizer")
NOT_GLOBAL = ("dead-neuron", "dead-neuron-neg")
RESCALE = (1e-4, 1e4)
#: the classes added from the failures (with the rescaled-* kinds)
ADDED_KINDS = NOT_GLOBAL + ("split", "split-scaled", "permuted", "negative-masses", "unbounded")


def _rescaled(fam, g, n, m, s, delta):
    """Labels and masses times ``s`` (f_mu scales with the masses: still global), perturbed by ``delta``."""
    prob, mu = _teacher_student(fam, g, n, m)
    data = mf.Samples(prob.data.X, s * prob.data.Y)
    nu = mu.copy(masses=s * mu.masses)
    return mf.Problem(fam, data), (_perturb(nu, delta, g) if delta else nu)


def adversarial_cases(r: int, rng_for, quick: bool):
    """The classes added from the failures (module docstring), for round ``r``."""
    d = 1 + r % 3
    dims = (2, 3, 5, 8, 12, 20)
    signs = [(dd, sg) for dd in dims for sg in (1.0, -1.0)]
    if quick:  # both signs, small and large inner dimension
        signs = [(2, 1.0), (6, -1.0)]
    for dd, sign in signs:
        fam = _family(DEAD, "relu-fixed", dd)
        kind = "dead-neuron" if sign > 0 else "dead-neuron-neg"
        yield "relu-fixed", kind, (lambda g=rng_for(), fam=fam, sign=sign:
                                   _dead_neuron(fam, g, 12 + 3 * fam.blocks["w"][0], 1 + r % 3, sign))
    yield "relu-fixed", "negative-masses", (lambda g=rng_for(): _negative_masses(
        _family(FAMILIES, "relu-fixed", d), g, 8 + r % 5, 2 + r % 2))
    for name in ("relu", "relu-fixed", "sigmoid", "erf"):
        fam = _family(FAMILIES, name, d)
        m = 2 + r % 2
        yield name, "split", (lambda g=rng_for(), fam=fam, m=m: _adv_variant(fam, g, 8, m, "split"))
        yield name, "permuted", (lambda g=rng_for(), fam=fam, m=m: _adv_variant(fam, g, 8, m, "perm"))
        if isinstance(fam, mf.families.Homogeneous):
            yield name, "split-scaled", (lambda g=rng_for(), fam=fam, m=m: _adv_variant(fam, g, 8, m, "scaled"))
        for s_ in RESCALE:
            yield name, f"rescaled-{s_:.0e}", (lambda g=rng_for(), fam=fam, m=m, s_=s_: _rescaled(fam, g, 8, m, s_, 0))
        yield name, "rescaled-perturbed", (lambda g=rng_for(), fam=fam, m=m: _rescaled(fam, g, 8, m, 1e4, 1e-8))
    for name in UNBOUNDED:
        fam = _family(UNBOUNDED, name, 1 + r % 2)
        yield name, "unbounded", (lambda g=rng_for(), fam=fam: _teacher_student(fam, g, 8, 2))


def _adv_variant(fam, g, n, m, how):
    prob, mu = _teacher_student(fam, g, n, m)
    if how == "perm":
        return prob, _permuted(mu, g)
    return prob, _split(mu, g, how == "scaled")


def cases(rounds: int, seed: int = 0, quick: bool = False):
    """Yield ``(family, kind, build)`` for ``rounds`` rounds; ``build()`` returns ``(prob, mu)``.

    Every random choice comes from ``np.random.default_rng([seed, round, case index])``.
    """
    for r in range(rounds):
        d = 1 + r % 3
        idx = 0

        def rng_for():
            nonlocal idx
            idx += 1
            return np.random.default_rng([seed, r, idx])

        base_n = 4 + (3 * r) % 13  # n in 4..16
        for name in FAMILIES:
            fam = _family(FAMILIES, name, d)
            m = 1 + r % 3
            n = base_n
            bases = [("teacher=student", _teacher_student), ("interp-mass", _interp_mass),
                     ("zero-target", _zero_target)]
            if isinstance(fam, mf.families.OutputLinear):
                bases.append(("interp-outer", _interp_outer))
            for kind, make in bases:
                g = rng_for()
                n_k = min(n, 6) if kind.startswith("interp") else n  # interpolation needs width >= n k
                yield name, kind, (lambda make=make, g=g, n_k=n_k, fam=fam, m=m: make(fam, g, n_k, m))
            # near-degenerate variants of a global minimizer (teacher = student on samples)
            for delta in PERTURB:
                yield name, f"perturbed-{delta:.0e}", (
                    lambda g=rng_for(), delta=delta, fam=fam, m=m, n=n: _variant(fam, g, n, m, delta))
            yield name, "duplicated", (lambda g=rng_for(), fam=fam, m=m, n=n: _variant(fam, g, n, m, "dup"))
            yield name, "zero-mass", (lambda g=rng_for(), fam=fam, m=m, n=n: _variant(fam, g, n, m, "zero"))
        if r % 2 == 0:  # populations are slower (closed-form kernels): every other round
            for name in POPULATION:
                fam = _family(POPULATION, name, 1 + d)
                m = 1 + r % 3
                yield f"{name}-population", "population", (lambda g=rng_for(), fam=fam, m=m: _population(fam, g, 0, m))
                yield f"{name}-population", "duplicated", (
                    lambda g=rng_for(), fam=fam, m=m: _pop_variant(fam, g, m, "dup"))
                yield f"{name}-population", "perturbed-1e-08", (
                    lambda g=rng_for(), fam=fam, m=m: _pop_variant(fam, g, m, 1e-8))
        yield from adversarial_cases(r, rng_for, quick)


def _variant(fam, g, n, m, how):
    prob, mu = _teacher_student(fam, g, n, m)
    if how == "dup":
        return prob, _duplicate(mu, g)
    if how == "zero":
        return prob, _zero_mass(mu, g)
    return prob, _perturb(mu, how, g)


def _pop_variant(fam, g, m, how):
    prob, mu = _population(fam, g, 0, m)
    return prob, (_duplicate(mu, g) if how == "dup" else _perturb(mu, how, g))


# ------------------------------------------------------------------------------------------------ campaign
def false_claim(rep, global_point: bool = True) -> bool:
    """At a global minimizer: verdict "unstable", or a proved non-globality or escaping-set claim in the
    certificate. At a point that is not global: verdict "global-minimizer"."""
    if not global_point:
        return rep.verdict.value == "global-minimizer"
    return rep.verdict.value == "unstable" or any(
        c.get("name") in ("non-globality", "escaping-set") and c.get("outcome") == "proved"
        for c in rep.certificate.get("claims", []))


def run(quick: bool = False, seed: int = 0, rounds: int | None = None, verify: bool = True,
        out=sys.stdout) -> dict:
    """Run the campaign; returns counts, false claims and timings.

    Returns
    -------
    dict
        ``cases`` (campaign size), ``false_claims`` (must be 0), ``false_cases`` (their descriptions),
        ``counts`` {(family, kind): Counter(verdict)}, ``verdicts`` (Counter), ``verify`` (Counter of
        ``mf.verify`` results), ``escaping_claims`` (Counter of the escaping-set claims' outcomes), ``max_loss``
        of the exact global minimizers, ``seconds``.
    """
    rounds = (1 if quick else 10) if rounds is None else rounds
    t0 = time.perf_counter()
    counts: dict = collections.defaultdict(collections.Counter)
    verdicts: collections.Counter = collections.Counter()
    verified: collections.Counter = collections.Counter()
    false_cases, errors, max_loss, slowest, total = [], [], 0.0, (0.0, ""), 0
    escaping: collections.Counter = collections.Counter()  # outcomes of the escaping-set claims
    added = 0.0  # seconds (check and verify) spent on the classes added from the failures
    for name, kind, build in cases(rounds, seed, quick):
        prob, mu = build()
        if not kind.startswith(("perturbed", "rescaled")) and kind not in NOT_GLOBAL:
            max_loss = max(max_loss, prob.loss(mu))
        t = time.perf_counter()
        try:
            rep = mf.check(prob, mu, seed=seed)
        except Exception as exc:  # a crash is not a claim, but it is a bug: count and describe it
            total += 1
            counts[(name, kind)]["error"] += 1
            verdicts["error"] += 1
            errors.append(f"{name}/{kind} (case {total}, m = {mu.m}, n = {getattr(prob.data, 'n', 'population')}): "
                          f"{type(exc).__name__}: {exc}")
            continue
        dt = time.perf_counter() - t
        slowest = max(slowest, (dt, f"{name}/{kind}"))
        total += 1
        v = rep.verdict.value
        counts[(name, kind)][v] += 1
        escaping.update(c["outcome"] for c in rep.certificate.get("claims", []) if c.get("name") == "escaping-set")
        verdicts[v] += 1
        if false_claim(rep, kind not in NOT_GLOBAL):
            false_cases.append(f"{name}/{kind} (case {total}): verdict {v}, gap "
                               f"{rep.mean_field.gap if rep.mean_field else None}, residual {rep.residual:.3g}")
        if verify:
            verified[str(mf.verify(rep.certificate))] += 1
        if kind in ADDED_KINDS or kind.startswith("rescaled"):
            added += time.perf_counter() - t
    seconds = time.perf_counter() - t0
    result = {"cases": total, "false_claims": len(false_cases), "false_cases": false_cases, "counts": dict(counts),
              "verdicts": verdicts, "errors": errors, "escaping_claims": escaping, "verify": verified,
              "max_loss": max_loss, "seconds": seconds, "added_seconds": added,
              "slowest": slowest}
    _print(result, out)
    return result


def _print(res: dict, out) -> None:
    families = list(dict.fromkeys(f for f, _ in res["counts"]))
    kinds = list(dict.fromkeys(k for _, k in res["counts"]))
    w = max(len(k) for k in kinds)
    print(f"{'family':<18} {'kind':<{w}}  " + "  ".join(f"{v:>16}" for v in VERDICTS), file=out)
    for f in families:
        for k in kinds:
            c = res["counts"].get((f, k))
            if c:
                print(f"{f:<18} {k:<{w}}  " + "  ".join(f"{c.get(v, 0):>16}" for v in VERDICTS), file=out)
    print(f"{'total':<18} {'':<{w}}  " + "  ".join(f"{res['verdicts'].get(v, 0):>16}" for v in VERDICTS), file=out)
    print(f"\ncampaign size: {res['cases']} cases; false instability claims: {res['false_claims']}; "
          f"crashes: {len(res['errors'])}", file=out)
    for fc in res["false_cases"]:
        print(f"  FALSE CLAIM: {fc}", file=out)
    for e in res["errors"]:
        print(f"  CRASH (mf.check raised): {e}", file=out)
    print(f"largest loss of an exact global minimizer: {res['max_loss']:.3e}", file=out)
    print(f"escaping-set claims (unstable points): {dict(res['escaping_claims'])}", file=out)
    if res["verify"]:
        print(f"mf.verify on every certificate: {dict(res['verify'])}", file=out)
    print(f"classes added from the failures: {res['added_seconds']:.1f} s of checks and verifies "
          f"({res['added_seconds'] / max(res['seconds'], 1e-9):.0%} of the run)", file=out)
    print(f"time: {res['seconds']:.1f} s ({res['seconds'] / max(res['cases'], 1):.2f} s per case; slowest "
          f"{res['slowest'][0]:.2f} s, {res['slowest'][1]})", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one round (~140 cases)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds of ~140 cases (default 10; quick 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-verify", action="store_true", help="skip mf.verify on the certificates")
    args = ap.parse_args(argv)
    res = run(quick=args.quick, seed=args.seed, rounds=args.rounds, verify=not args.no_verify)
    return 0 if res["false_claims"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
