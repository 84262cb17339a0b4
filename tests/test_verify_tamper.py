"""verify re-checks every field of a certificate (docs/certificates.md, what verify re-checks): editing a
classification, a spectrum summary, a gap value, a flag, a statement, deleting or weakening a block fails;
inert metadata may change; malformed or hostile input is a CertificateError (exit 2), refused at once."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import time

import numpy as np
import pytest

import mfsym as mf
from mfsym.cli import main as cli_main
from mfsym.stability._certificates import inputs_digest


@pytest.fixture(scope="module")
def unstable():
    """relu (trained output) width-one fit of a width-3 teacher: unstable, certified strict-local-min."""
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=25, seed=1)
    prob = mf.Problem(fam, data)
    mu = mf.datasets.width_one_fit(prob, starts=3, seed=0, tol=1e-12)
    rep = mf.check(prob, mu, escaping=False, restarts=3)
    assert rep.verdict == "unstable" and rep.finite_width.certified
    return json.loads(json.dumps(rep.certificate))


@pytest.fixture(scope="module")
def global_cert():
    """relu(outputs=0, bias=True) whose residual is >= 0 on every sample no neuron sees: J >= 0, certified global."""
    rng = np.random.default_rng(4)
    fam = mf.families.relu(d=2, outputs=0, bias=True)
    X = rng.standard_normal((12, 2))
    P = np.array([[1.0, 0.3, -0.8], [-0.5, 1.0, -0.9]])
    mu = mf.Measure(fam, P, np.array([0.6, 0.4]))
    seen = ((X @ P[:, :2].T + P[:, 2]) > -1e-9).any(axis=1)
    e = np.where(seen, 0.0, rng.uniform(0.05, 0.2, 12))
    f = mf.Problem(fam, mf.Samples(X, np.zeros((12, 1)))).prediction(mu)
    prob = mf.Problem(fam, mf.Samples(X, f - e[:, None]))
    rep = mf.check(prob, mu, escaping=False, restarts=3)
    assert rep.verdict == "global-minimizer"
    return json.loads(json.dumps(rep.certificate))


def _claim(c, name):
    return next(x for x in c["claims"] if x["name"] == name)


def _drop_claim(c, name):
    c["claims"] = [x for x in c["claims"] if x["name"] != name]


UNSTABLE_TAMPERS = {
    "finite_width classification": lambda c: c["finite_width"].__setitem__("classification", "strict-saddle"),
    "finite_width lambda_min": lambda c: c["finite_width"].__setitem__("lambda_min", c["finite_width"]["lambda_min"] * 1.01),
    "finite_width lambda_max": lambda c: c["finite_width"].__setitem__("lambda_max", c["finite_width"]["lambda_max"] * 2),
    "finite_width certified": lambda c: c["finite_width"].__setitem__("certified", False),
    "finite_width symmetry_dim": lambda c: c["finite_width"].__setitem__("symmetry_dim", 7),
    "finite_width deleted": lambda c: c.__setitem__("finite_width", None),
    "gap_value set to 0": lambda c: c["mean_field_search"].__setitem__("gap_value", 0.0),
    "gap_value rescaled": lambda c: c["mean_field_search"].__setitem__("gap_value", c["mean_field_search"]["gap_value"] * 0.9),
    "at_infinity": lambda c: c["mean_field_search"].__setitem__("at_infinity", True),
    "method": lambda c: c["mean_field_search"].__setitem__("method", "certified by hand"),
    "mean_field_search deleted": lambda c: c.pop("mean_field_search"),
    "claim statement": lambda c: _claim(c, "non-globality").__setitem__("statement", "J < -1 everywhere"),
    "claim reason": lambda c: _claim(c, "positive-definite").__setitem__("reason", "trust me"),
    "claim extra field": lambda c: _claim(c, "stationarity").__setitem__("note", "exact"),
    "non-globality deleted, verdict weakened": lambda c: (_drop_claim(c, "non-globality"),
                                                          c.__setitem__("verdict", "inconclusive")),
    "verdict weakened": lambda c: c.__setitem__("verdict", "inconclusive"),
    "residual_float": lambda c: c.__setitem__("residual_float", c["residual_float"] * 3 + 1e-9),
    "unknown top-level key": lambda c: c.__setitem__("certified_global", True),
}


@pytest.mark.parametrize("what", sorted(UNSTABLE_TAMPERS))
def test_tampering_with_any_checked_field_fails(unstable, what):
    bad = copy.deepcopy(unstable)
    UNSTABLE_TAMPERS[what](bad)
    assert mf.verify(bad) is False


def test_inert_metadata_may_change(unstable):
    assert mf.verify(unstable) is True
    ok = copy.deepcopy(unstable)
    ok["mfsym_version"] = "0.0.0-elsewhere"
    assert mf.verify(ok) is True


GLOBAL_TAMPERS = {
    "exact claim deleted": lambda c: _drop_claim(c, "exact-global"),
    "exact claim undecided": lambda c: (_claim(c, "exact-global").__setitem__("outcome", "undecided"),
                                        _claim(c, "exact-global").__setitem__("enclosure", None)),
    "exact claim bound": lambda c: _claim(c, "exact-global")["enclosure"].__setitem__(1, (1e-7).hex()),
    "verdict unstable": lambda c: c.__setitem__("verdict", "unstable"),
    "gap_value": lambda c: c["mean_field_search"].__setitem__("gap_value", 1e-7),
}


def test_global_certificate_carries_its_exact_claim(global_cert):
    assert mf.verify(global_cert) is True
    assert _claim(global_cert, "exact-global")["outcome"] == "proved"


@pytest.mark.parametrize("what", sorted(GLOBAL_TAMPERS))
def test_tampering_with_a_global_certificate_fails(global_cert, what):
    bad = copy.deepcopy(global_cert)
    GLOBAL_TAMPERS[what](bad)
    assert mf.verify(bad) is False


def _resigned(c):
    c["inputs_sha256"] = inputs_digest(c)
    return c


def test_hostile_expression_refused_fast(unstable):
    bad = copy.deepcopy(unstable)
    bad["problem"]["family"] = {"name": "custom", "label": "x", "params": {"w": [1]}, "inputs": {"x": [1]},
                                "expr_srepr": "Pow(Integer(10), Integer(100000000))"}
    _resigned(bad)
    t = time.perf_counter()
    with pytest.raises(mf.CertificateError, match="expr_srepr: a numeric power"):
        mf.verify(bad)
    assert time.perf_counter() - t < 1.0
    for text, match in (("Pow(Pow(Integer(10), Integer(60)), Integer(60))", "digits"),
                        ("Integer(" + "9" * 5000 + ")", "srepr|digits"),
                        ("Add(" * 400 + "Integer(1)" + ")" * 400, "nested|srepr"),
                        ("__import__('os').system('true')", "unexpected"),
                        ("Symbol('x').__class__", "unexpected syntax")):
        bad["problem"]["family"]["expr_srepr"] = text
        _resigned(bad)
        t = time.perf_counter()
        with pytest.raises(mf.CertificateError, match=match):
            mf.verify(bad)
        assert time.perf_counter() - t < 1.0


@pytest.mark.parametrize("verdict", [["unstable"], {"v": 1}, 3, None, "certified"])
def test_malformed_verdict_is_a_certificate_error(unstable, verdict):
    bad = copy.deepcopy(unstable)
    bad["verdict"] = verdict
    with pytest.raises(mf.CertificateError, match="certificate.verdict"):
        mf.verify(bad)


def test_malformed_claims_are_errors_not_rejections(unstable):
    for edit, match in ((lambda c: c["claims"][0].__setitem__("outcome", "maybe"), "claim.outcome"),
                        (lambda c: c["claims"][0].__setitem__("relation", ">"), "claim.relation"),
                        (lambda c: c.__setitem__("gap_tol", "1e-6"), "certificate.gap_tol"),
                        (lambda c: c["mean_field_search"].__setitem__("seed", "0"), "mean_field_search.seed")):
        bad = copy.deepcopy(unstable)
        edit(bad)
        with pytest.raises(mf.CertificateError, match=match):
            mf.verify(_resigned(bad))


def _cli(args):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = cli_main(args)
    return rc, out.getvalue(), err.getvalue()


def test_cli_verify_clean_lines(tmp_path, unstable):
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe{\x00")
    rc, out, err = _cli(["verify", str(tmp_path / "bin.json")])
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    bad = copy.deepcopy(unstable)
    bad["verdict"] = ["unstable"]
    (tmp_path / "list.json").write_text(json.dumps(bad))
    rc, out, err = _cli(["verify", str(tmp_path / "list.json")])
    assert rc == 2 and "certificate.verdict" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(mf.CertificateError, match="UTF-8"):
        mf.verify(b"\xff\xfe")


@pytest.mark.parametrize("block, key, value", [("finite_width", "lambda_min", "small"),
                                               ("finite_width", "certified", 1),
                                               ("mean_field_search", "at_infinity", "no"),
                                               ("mean_field_search", "gap_value", [0.0])])
def test_summary_fields_of_the_wrong_type_are_errors(unstable, block, key, value):
    bad = copy.deepcopy(unstable)
    bad[block][key] = value
    with pytest.raises(mf.CertificateError, match=f"certificate.{block}.{key}"):
        mf.verify(bad)
