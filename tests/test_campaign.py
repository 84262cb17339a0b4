"""The no-false-instability campaign (analyses/false_instability_campaign.py) in its --quick mode."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "analyses" / "false_instability_campaign.py"


def _load():
    spec = importlib.util.spec_from_file_location("analyses_false_instability_campaign", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def campaign():
    module = _load()
    out = io.StringIO()
    return module, module.run(quick=True, out=out), out.getvalue()


def test_quick_campaign_makes_no_false_instability_claim(campaign):
    _, res, text = campaign
    assert res["cases"] >= 100
    assert res["false_claims"] == 0, res["false_cases"]
    # only the points known not to be global (dead-neuron classes) are unstable
    module = campaign[0]
    unstable = {k for k, c in res["counts"].items() if c.get("unstable")}
    assert all(kind in module.NOT_GLOBAL for _, kind in unstable), unstable
    # the exact global minimizers really are global: zero loss to rounding
    assert res["max_loss"] < 1e-20
    # general-class families (custom-poly: neither output-linear nor homogeneous) have no global-optimality
    # criterion (docs/mathematics.md, global optimality): they are never called global, nor unstable
    general = {k: c for k, c in res["counts"].items() if k[0] in ("custom-poly", "custom-exp", "custom-cubic")}
    assert general and all(set(c) <= {"inconclusive", "not-stationary"} for c in general.values()), general
    # the other points are recognised as global; the rest are perturbed points whose residual exceeds tol
    n_general = sum(sum(c.values()) for c in general.values())
    n_not_global = sum(sum(c.values()) for k, c in res["counts"].items() if k[1] in module.NOT_GLOBAL)
    assert res["verdicts"]["global-minimizer"] >= 0.9 * (res["cases"] - n_general - n_not_global)
    for (family, kind), counts in res["counts"].items():
        if counts.get("not-stationary"):
            assert kind.startswith(("perturbed", "rescaled-perturbed")), (family, kind, counts)
    # every family and every kind of case is present, and the table and totals are printed
    families = {f for f, _ in res["counts"]}
    assert {"relu", "relu-fixed", "sigmoid", "sigmoid-vec", "tanh", "erf", "attention", "deconvolution",
            "custom-poly", "custom-tanh", "relu-population", "erf-population", "custom-exp", "custom-cubic"} <= families
    kinds = {k for _, k in res["counts"]}
    assert {"teacher=student", "interp-mass", "interp-outer", "zero-target", "duplicated", "zero-mass",
            "population", "perturbed-1e-09", "perturbed-1e-06", "split", "split-scaled", "permuted",
            "negative-masses", "unbounded", "rescaled-1e-04", "rescaled-1e+04", "rescaled-perturbed", "dead-neuron",
            "dead-neuron-neg"} <= kinds
    assert f"campaign size: {res['cases']} cases; false instability claims: 0" in text


def test_dead_neuron_points_are_never_global_and_carry_a_proved_escaping_set(campaign):
    # the adversarial class of docs/analyses.md: J < 0 (or > 0) only on a small cap; never global-minimizer
    module, res, _ = campaign
    dead = {k: c for k, c in res["counts"].items() if k[1] in module.NOT_GLOBAL}
    assert sum(sum(c.values()) for c in dead.values()) >= 2
    assert all(not c.get("global-minimizer") for c in dead.values()), dead
    assert res["escaping_claims"]["proved"] >= res["verdicts"]["unstable"]
    assert module.false_claim(_fake("global-minimizer", []), global_point=False)
    assert module.false_claim(_fake("inconclusive", [{"name": "escaping-set", "outcome": "proved"}]))
    assert not module.false_claim(_fake("unstable", [{"name": "escaping-set", "outcome": "proved"}]),
                                  global_point=False)


def _fake(verdict, claims):
    class Fake:
        def __init__(self):
            self.verdict = type("V", (), {"value": verdict})()
            self.certificate = {"claims": claims}
    return Fake()


def test_every_certificate_of_the_campaign_verifies(campaign):
    _, res, _ = campaign
    checked = res["cases"] - len(res["errors"])
    assert res["verify"] == {"True": checked}


def test_quick_campaign_has_no_crash(campaign):
    _, res, _ = campaign
    assert res["errors"] == []


def test_false_claim_detector_and_case_generation_are_deterministic(campaign):
    module, _, _ = campaign

    class Fake:
        def __init__(self, verdict, claims):
            self.verdict = type("V", (), {"value": verdict})()
            self.certificate = {"claims": claims}

    assert module.false_claim(Fake("unstable", []))
    assert module.false_claim(Fake("inconclusive", [{"name": "non-globality", "outcome": "proved"}]))
    assert not module.false_claim(Fake("global-minimizer", [{"name": "non-globality", "outcome": "undecided"}]))
    first = [(f, k, b) for f, k, b in module.cases(1, seed=3)][:12]
    again = [(f, k, b) for f, k, b in module.cases(1, seed=3)][:12]
    for (f1, k1, b1), (f2, k2, b2) in zip(first, again):
        (p1, m1), (p2, m2) = b1(), b2()
        assert (f1, k1) == (f2, k2)
        assert np.array_equal(p1.data.X, p2.data.X) and np.array_equal(m1.particles, m2.particles)
        assert np.array_equal(m1.masses, m2.masses)
