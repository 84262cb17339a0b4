"""Reliability (issue 7, item 3): bad input at every public entry, malformed certificates and spec files,
and hypothesis properties of flows, certificates and verdicts over random families, data and measures.

Bad input must raise an ``mf.MfsymError`` subclass whose message names the argument (and the CLI must
exit 2 with one line naming the key); nothing is silently coerced. Each test about a bug found by this
suite (and since fixed) says in its docstring or name what used to go wrong.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import warnings

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mfsym as mf
from mfsym.cli import main as cli_main


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def relu_global():
    """A relu teacher = student problem (a global minimizer)."""
    fam = mf.families.relu(d=2)
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=2, n=8, seed=0)
    return mf.Problem(fam, data), teacher


@pytest.fixture(scope="module")
def relu_unstable():
    """The best single relu neuron for a width-3 teacher: stationary, not global (gap > 0)."""
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=25, seed=1)
    prob = mf.Problem(fam, data)
    mu = mf.datasets.width_one_fit(prob, starts=3, seed=0, tol=1e-12)
    g = mf.meanfield.gap(prob, mu)
    assert g.value > 1e-6
    return prob, mu, g


@pytest.fixture(scope="module")
def certificate(relu_global):
    prob, mu = relu_global
    return json.loads(json.dumps(mf.check(prob, mu).certificate))


def _raises(call, match, error=mf.MfsymError):
    with pytest.raises(error, match=match) as info:
        call()
    assert isinstance(info.value, mf.MfsymError)
    return str(info.value)


# ------------------------------------------------------------------------------------------------ flow / stationary
# (test_dynamics covers steps 0/2.0/True, dt 0/-1/nan/inf/"0.1", tol -1, record_every 0, adaptive, progress,
#  min_dt 0, and stationary target/tol/max_iter/dense; these are the remaining gaps.)
@pytest.mark.parametrize("kwargs, match", [
    ({"steps": None}, r"steps: expected an integer >= 1, got None"),
    ({"steps": -3}, r"steps: expected an integer >= 1, got -3"),
    ({"min_dt": -1e-3}, r"min_dt: expected a finite number > 0, got -0.001"),
    ({"min_dt": float("nan")}, r"min_dt: expected a finite number > 0"),
    ({"tol": float("inf")}, r"tol: expected a finite number >= 0, got inf"),
    ({"tol": "0"}, r"tol: expected a finite number >= 0, got '0'"),
    ({"record_every": 1.5}, r"record_every: expected an integer >= 1, got 1.5"),
    ({"dt": np.array([0.1, 0.2])}, r"dt: expected a finite number > 0"),
])
def test_flow_argument_errors_name_the_argument_and_value(relu_global, kwargs, match):
    prob, mu = relu_global
    args = {"steps": 2, **kwargs}
    _raises(lambda: mf.flow(prob, mu, **args), match)


@pytest.mark.parametrize("kwargs, match", [
    ({"target": 1}, r"target: expected one of \('minimum', 'saddle', 'any'\), got 1"),
    ({"tol": -1.0}, r"tol: expected a finite number > 0, got -1.0"),
    ({"tol": float("inf")}, r"tol: expected a finite number > 0, got inf"),
    ({"max_iter": -1}, r"max_iter: expected an integer >= 1, got -1"),
    ({"max_iter": 10.0}, r"max_iter: expected an integer >= 1, got 10.0"),
])
def test_stationary_argument_errors(relu_global, kwargs, match):
    prob, mu = relu_global
    _raises(lambda: mf.stationary(prob, mu, **kwargs), match)


def test_flow_and_stationary_reject_a_measure_of_another_dimension(relu_global):
    prob, _ = relu_global
    other = mf.Measure(mf.families.relu(d=3), np.ones((2, 4)))
    for call in (lambda: mf.flow(prob, other, 2), lambda: mf.stationary(prob, other)):
        msg = _raises(call, r"mu: its family has blocks", mf.MeasureError)
        assert "(3,)" in msg and "(2,)" in msg  # both shapes named


# ------------------------------------------------------------------------------------------------ meanfield
@pytest.mark.parametrize("kwargs, match", [
    ({"restarts": 1.5}, r"restarts: expected an integer >= 1, got 1.5"),
    ({"restarts": True}, r"restarts: expected an integer >= 1, got True"),
    ({"samples": 3}, r"samples: expected an integer >= 16, got 3"),
    ({"seed": "x"}, r"seed: expected an integer >= 0, a numpy.random.Generator or None, got 'x'"),
    ({"seed": 1.5}, r"seed: expected an integer >= 0, a numpy.random.Generator or None, got 1.5"),
])
def test_gap_argument_errors(relu_global, kwargs, match):
    prob, mu = relu_global
    _raises(lambda: mf.meanfield.gap(prob, mu, **kwargs), match)


def test_gap_rejects_wrong_problem_and_measure(relu_global):
    prob, mu = relu_global
    _raises(lambda: mf.meanfield.gap(prob, mu.particles), r"mu: expected an mf.Measure, got ndarray")
    _raises(lambda: mf.meanfield.gap(prob, mf.Measure(mf.families.relu(d=3), np.ones((1, 4)))),
            r"mu: its family has blocks")


def test_gap_negative_seed_is_an_mfsym_error(relu_global):
    prob, mu = relu_global
    _raises(lambda: mf.meanfield.gap(prob, mu, seed=-1), r"seed: expected an integer >= 0.* got -1", mf.MeasureError)


@pytest.mark.parametrize("kwargs, match", [
    ({"level": -1.0}, r"level: expected numbers in \(0, s\*\) with s\* = .* got -1.0"),
    ({"level": float("nan")}, r"level: expected numbers in \(0, s\*\).* got nan"),
    ({"level": 10.0}, r"level: expected numbers in \(0, s\*\).* got 10.0"),
    ({"level": [1e-6, "x"]}, r"level: .* got 'x'"),
    ({"resolution": 1}, r"resolution: expected an integer >= 2, got 1"),
    ({"resolution": 4.0}, r"resolution: expected an integer >= 2, got 4.0"),
    ({"gap": 0.1}, r"gap: expected a meanfield.Gap, got float"),
])
def test_escaping_sets_argument_errors(relu_unstable, kwargs, match):
    prob, mu, g = relu_unstable
    args = {"gap": g, "certify": False, **kwargs}
    _raises(lambda: mf.meanfield.escaping_sets(prob, mu, **args), match)


def test_escaping_sets_rejects_wrong_problem_and_measure(relu_unstable):
    prob, mu, g = relu_unstable
    _raises(lambda: mf.meanfield.escaping_sets("prob", mu, gap=g), r"prob: expected an mf.Problem, got str")
    _raises(lambda: mf.meanfield.escaping_sets(prob, "mu", gap=g), r"mu: expected an mf.Measure, got str")


@pytest.mark.parametrize("kwargs, match", [
    ({"certify": "yes"}, r"certify: expected True or False, got 'yes'"),
    ({"tol": -1.0}, r"tol: expected a finite number >= 0, got -1.0"),
    ({"tol": float("nan")}, r"tol: expected a finite number >= 0, got nan"),
    ({"seed": -1}, r"seed: expected an integer >= 0.* got -1"),
    # level is checked before the gap is compared with tol (here every gap is below tol)
    ({"level": float("nan"), "tol": 1e9}, r"level: expected numbers in \(0, s\*\) .* got nan"),
    ({"level": -1.0, "tol": 1e9}, r"level: expected numbers in \(0, s\*\) .* got -1.0"),
    ({"level": [], "tol": 1e9}, r"level: expected a number, a non-empty list of numbers or None, got \[\]"),
])
def test_escaping_sets_flag_and_tol_are_validated(relu_unstable, kwargs, match):
    prob, mu, g = relu_unstable
    _raises(lambda: mf.meanfield.escaping_sets(prob, mu, gap=g, **{"certify": False, **kwargs}), match,
            mf.MeasureError)


# ------------------------------------------------------------------------------------------------ check
@pytest.mark.parametrize("kwargs, match", [
    ({"tol": float("nan")}, r"tol: expected a finite number > 0, got nan"),
    ({"tol": 0}, r"tol: expected a finite number > 0, got 0"),
    ({"tol": "1e-6"}, r"tol: expected a finite number > 0, got '1e-6'"),
    ({"gap_tol": -1.0}, r"gap_tol: expected a finite number > 0, got -1.0"),
    ({"gap_tol": float("inf")}, r"gap_tol: expected a finite number > 0, got inf"),
    ({"precision_bits": 10}, r"precision: expected an integer number of bits in \[53, 4096\], got 10"),
    ({"precision_bits": 64.5}, r"precision: .* got 64.5"),
    ({"precision_bits": True}, r"precision: .* got True"),
    ({"seed": "x"}, r"seed: .* got 'x'"),
    ({"restarts": 0}, r"restarts: expected an integer >= 1, got 0"),
])
def test_check_argument_errors(relu_global, kwargs, match):
    prob, mu = relu_global
    _raises(lambda: mf.check(prob, mu, **kwargs), match)


def test_check_rejects_wrong_problem_and_measure(relu_global):
    prob, mu = relu_global
    _raises(lambda: mf.check("prob", mu), r"prob: expected an mf.Problem, got str")
    _raises(lambda: mf.check(prob, mu.particles), r"mu: expected an mf.Measure, got ndarray")
    msg = _raises(lambda: mf.check(prob, mf.Measure(mf.families.relu(d=3), np.ones((1, 4)))), r"mu: its family")
    assert "(3,)" in msg and "(2,)" in msg


@pytest.mark.parametrize("kwargs", [{"precision_bits": "x"}, {"escaping": "no"}])
def test_check_precision_string_and_escaping_flag(relu_global, kwargs):
    prob, mu = relu_global
    _raises(lambda: mf.check(prob, mu, **kwargs), "precision" if "precision_bits" in kwargs else "escaping")


def test_check_does_not_crash_on_a_wide_positive_definiteness_box():
    fam = mf.families.sigmoid(d=1, outputs=1)
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=1, n=4, seed=9)
    prob = mf.Problem(fam, data)
    mu = teacher.copy(particles=teacher.particles + 1e-7 * np.random.default_rng(9).standard_normal((1, fam.p)))
    rep = mf.check(prob, mu)
    assert rep.verdict.value in ("global-minimizer", "inconclusive", "not-stationary")
    assert mf.verify(rep.certificate) is True


# ------------------------------------------------------------------------------------------------ GaussianTeacher
def test_gaussian_teacher_argument_errors():
    fam = mf.families.relu(d=2)
    T = mf.Measure(fam, fam.random_particles(2, seed=1))
    sig = mf.families.sigmoid(d=2)
    cases = [
        (lambda: mf.GaussianTeacher(None, T), r"family: expected an mfsym Family, got NoneType"),
        (lambda: mf.GaussianTeacher(fam, T.particles), r"teacher_measure: expected an mf.Measure, got ndarray"),
        (lambda: mf.GaussianTeacher(fam, T, method="exact"), r"method: expected 'auto', 'closed' or 'mc', got 'exact'"),
        (lambda: mf.GaussianTeacher(fam, T, seed="0"), r"seed: expected an integer >= 0, got '0'"),
        (lambda: mf.GaussianTeacher(fam, T, seed=1.0), r"seed: expected an integer >= 0, got 1.0"),
        (lambda: mf.GaussianTeacher(fam, T, mc_samples=1.5), r"mc_samples: expected an integer >= 1, got 1.5"),
        (lambda: mf.GaussianTeacher(fam, T, mc_samples=-5), r"mc_samples: expected an integer >= 1, got -5"),
        (lambda: mf.GaussianTeacher(fam, T, method="mc"), r"mc_samples: method 'mc' needs mc_samples"),
        (lambda: mf.GaussianTeacher(sig, mf.Measure(sig, np.ones((1, 4))), method="closed"),
         r"method: 'closed' needs a bias-free relu or erf family"),
        (lambda: mf.Problem(sig, mf.GaussianTeacher(sig, mf.Measure(sig, np.ones((1, 4))))), r"mc_samples: .*pass"),
    ]
    for call, match in cases:
        _raises(call, match, mf.DataError)


def test_gaussian_teacher_negative_seed():
    sig = mf.families.sigmoid(d=2)
    _raises(lambda: mf.GaussianTeacher(sig, mf.Measure(sig, np.ones((1, 4))), mc_samples=20, seed=-1),
            r"seed: expected an integer >= 0, got -1", mf.DataError)


# ------------------------------------------------------------------------------------------------ datasets
_RELU = mf.families.relu(d=2)
_DECONV = mf.families.deconvolution(d=1)


@pytest.mark.parametrize("call, match", [
    (lambda: mf.datasets.teacher_student(None), r"family: expected an mfsym Family, got NoneType"),
    (lambda: mf.datasets.teacher_student(_RELU, n=0), r"n: expected an integer >= 1, got 0"),
    (lambda: mf.datasets.teacher_student(_RELU, n=2.5), r"n: expected an integer >= 1, got 2.5"),
    (lambda: mf.datasets.teacher_student(_RELU, m_teacher=0), r"m_teacher: expected an integer >= 1, got 0"),
    (lambda: mf.datasets.teacher_student(_RELU, m_teacher=-2), r"m_teacher: expected an integer >= 1, got -2"),
    (lambda: mf.datasets.teacher_student(_RELU, noise=-1.0), r"noise: expected a finite number >= 0, got -1.0"),
    (lambda: mf.datasets.teacher_student(_RELU, noise=float("nan")), r"noise: .* got nan"),
    (lambda: mf.datasets.teacher_student(_RELU, scale=float("inf")), r"scale: .* got inf"),
    (lambda: mf.datasets.teacher_student(_RELU, inputs="uniform"), r"inputs: expected 'gaussian' or 'sphere', got 'uniform'"),
    (lambda: mf.datasets.teacher_student(_RELU, seed="1"),
     r"seed: expected an integer >= 0 or a numpy.random.Generator, got '1'"),
    (lambda: mf.datasets.teacher_student(_RELU, seed=1.0), r"seed: .* got 1.0"),
    (lambda: mf.datasets.teacher_student(_RELU, teacher=np.ones((1, 3))), r"teacher: expected an mf.Measure or None, got ndarray"),
    (lambda: mf.datasets.teacher_student(_RELU, teacher=mf.Measure(mf.families.relu(d=3), np.ones((1, 4)))),
     r"teacher: its family has blocks .*\(3,\).* expected .*\(2,\)"),
    (lambda: mf.datasets.deconvolution(_RELU), r"family: expected an mf.families.deconvolution family"),
    (lambda: mf.datasets.deconvolution(_DECONV, n=0), r"n: expected an integer >= 1, got 0"),
    (lambda: mf.datasets.deconvolution(_DECONV, m_spikes=0), r"m_spikes: expected an integer >= 1, got 0"),
    (lambda: mf.datasets.deconvolution(_DECONV, spikes=[[0.1], [np.nan]]), r"spikes: expected finite values"),
    (lambda: mf.datasets.deconvolution(_DECONV, spikes=np.ones((2, 3))), r"spikes: expected shape \(m, 1\), got \(2, 3\)"),
    (lambda: mf.datasets.deconvolution(_DECONV, spikes=[[0.1], [0.5]], amplitudes=[1.0]),
     r"amplitudes: expected shape \(2,\) to match 2 spikes, got \(1,\)"),
    (lambda: mf.datasets.deconvolution(_DECONV, spikes=[[0.1], [0.5]], amplitudes=[1.0, np.inf]),
     r"amplitudes: expected finite values"),
    (lambda: mf.datasets.deconvolution(_DECONV, m_spikes=5, min_separation=0.9), r"min_separation: could not place 5"),
    (lambda: mf.datasets.deconvolution(_DECONV, min_separation=-0.1), r"min_separation: .* got -0.1"),
    (lambda: mf.datasets.deconvolution(_DECONV, noise=-0.1), r"noise: .* got -0.1"),
])
def test_dataset_generator_errors(call, match):
    _raises(call, match)


def test_stationary_configuration_generators_errors(relu_global):
    prob, _ = relu_global
    D = mf.datasets
    cases = [
        (lambda: D.width_one_fit("p"), r"prob: expected an mf.Problem, got str"),
        (lambda: D.width_one_fit(prob, mass=0.0), r"masses: expected 1 nonzero masses"),
        (lambda: D.width_one_fit(prob, mass=float("nan")), r"masses: expected finite values"),
        (lambda: D.width_one_fit(prob, starts=0), r"starts: expected an integer >= 1, got 0"),
        (lambda: D.width_one_fit(prob, scale=-1.0), r"scale: expected a finite number >= 0, got -1.0"),
        (lambda: D.width_one_fit(prob, seed="a"), r"seed: .* got 'a'"),
        (lambda: D.collapsed(prob, 0), r"m: expected an integer >= 1, got 0"),
        (lambda: D.collapsed(prob, 2, masses=[1.0]), r"masses: expected 2 nonzero masses, got shape \(1,\)"),
        (lambda: D.collapsed(prob, 2, masses=[1.0, 0.0]), r"masses: expected 2 nonzero masses"),
        (lambda: D.collapsed(prob, 2, masses=[1.0, -1.0]), r"masses: the total mass .* must be nonzero"),
        (lambda: D.underwidth_minima(prob, 0), r"m: expected an integer >= 1, got 0"),
        (lambda: D.underwidth_minima(prob, 1, starts=-1), r"starts: expected an integer >= 1, got -1"),
    ]
    for call, match in cases:
        _raises(call, match)


@pytest.mark.parametrize("call, match", [
    (lambda: mf.datasets.teacher_student(_RELU, seed=-1), r"seed: expected an integer >= 0 .* got -1"),
    (lambda: mf.datasets.deconvolution(_DECONV, grid="yes"), r"grid: expected True or False, got 'yes'"),
    (lambda: mf.datasets.width_one_fit(mf.Problem(_RELU, mf.Samples(np.ones((3, 2)), np.ones(3))), tol=-1.0,
                                       starts=1), r"tol: expected a finite number >= 0, got -1.0"),
    (lambda: mf.datasets.deconvolution(_DECONV, spikes=np.ones((0, 1))),
     r"spikes: expected at least one spike, .*\(m, 1\) with m >= 1, got shape \(0, 1\)"),
])
def test_dataset_generator_errors_not_yet_raised(call, match):
    _raises(call, match, mf.DataError)


# ------------------------------------------------------------------------------------------------ verify
def _resign(cert):
    from mfsym.stability._certificates import inputs_digest

    cert["inputs_sha256"] = inputs_digest(cert)
    return cert


def _edit(cert, fn, resign=True):
    c = copy.deepcopy(cert)
    fn(c)
    return _resign(c) if resign else c


@pytest.mark.parametrize("value, match", [
    ([1, 2], r"certificate: expected a dict or JSON text, got list"),
    (None, r"certificate: expected a dict or JSON text, got NoneType"),
    (3.5, r"certificate: expected a dict or JSON text, got float"),
    ("", r"certificate: not valid JSON"),
    ("[1]", r"got list"),
])
def test_verify_rejects_non_certificates(value, match):
    _raises(lambda: mf.verify(value), match, mf.CertificateError)


def test_verify_rejects_truncated_json(certificate):
    text = json.dumps(certificate)
    for cut in (1, len(text) // 3, len(text) - 1):
        _raises(lambda: mf.verify(text[:cut]), r"certificate: not valid JSON", mf.CertificateError)


@pytest.mark.parametrize("key", ["format", "problem", "claims", "verdict", "precision_bits", "inputs_sha256",
                                 "mfsym_version"])
def test_verify_missing_top_level_key(certificate, key):
    c = {k: v for k, v in certificate.items() if k != key}
    _raises(lambda: mf.verify(c), repr(key) if key != "format" else "certificate.format", mf.CertificateError)


EDITS = {  # name -> (edit, message); every edit is re-signed so the digest check does not hide it
    "claims not a list": (lambda c: c.__setitem__("claims", {}), r"certificate.claims: expected a list"),
    "claim not a dict": (lambda c: c.__setitem__("claims", ["x"]), r"certificate.claims: expected a list of claim dicts"),
    "claim without name": (lambda c: c["claims"][0].pop("name"), r"claim: missing key 'name'"),
    "claim without enclosure": (lambda c: c["claims"][0].pop("enclosure"), r"claim: missing key 'enclosure'"),
    "unknown claim": (lambda c: c["claims"][0].__setitem__("name", "magic"), r"claim.name: unknown claim 'magic'"),
    "threshold a float": (lambda c: c["claims"][0].__setitem__("threshold", 1e-6), r"claim.threshold: expected a float.hex"),
    "enclosure a string": (lambda c: c["claims"][0].__setitem__("enclosure", "abc"), r"claim.enclosure: expected \[lo, hi\]"),
    "enclosure floats": (lambda c: c["claims"][0].__setitem__("enclosure", [0.0, 1.0]), r"claim.enclosure: expected a float.hex"),
    "precision a string": (lambda c: c.__setitem__("precision_bits", "high"), r"precision: .* got 'high'"),
    "precision too low": (lambda c: c.__setitem__("precision_bits", 10), r"precision: .* got 10"),
    "tol a string": (lambda c: c.__setitem__("tol", "1e-6"), r"certificate.tol: expected a positive float, got '1e-6'"),
    "tol negative": (lambda c: c.__setitem__("tol", -1.0), r"certificate.tol: .* got -1.0"),
    "problem a list": (lambda c: c.__setitem__("problem", []), r"problem: expected a dict, got list"),
    "problem without measure": (lambda c: c["problem"].pop("measure"), r"problem: missing key 'measure'"),
    "problem without family": (lambda c: c["problem"].pop("family"), r"problem: missing key 'family'"),
    "unknown family": (lambda c: c["problem"]["family"].__setitem__("name", "gelu"), r"problem.family: .*'gelu'"),
    "family options bad": (lambda c: c["problem"]["family"].__setitem__("options", {"d": -1}), r"problem.family: .*d: expected"),
    "family options a list": (lambda c: c["problem"]["family"].__setitem__("options", [1]), r"problem.family.options: expected a dict"),
    "family a string": (lambda c: c["problem"].__setitem__("family", "relu"), r"problem.family: expected a dict"),
    "X missing": (lambda c: c["problem"]["data"].pop("X"), r"problem.data.X: expected"),
    "X shape does not fit": (lambda c: c["problem"]["data"]["X"].__setitem__("shape", [3, 3]), r"problem.data.X: 16 values do not fill the shape \[3, 3\]"),
    "X negative shape": (lambda c: c["problem"]["data"]["X"].__setitem__("shape", [-1, 2]), r"problem.data.X.shape: expected a list of non-negative ints"),
    "X infinite": (lambda c: c["problem"]["data"]["X"]["hex"].__setitem__(0, "inf"), r"problem.data.X: expected finite values"),
    "X entry an int": (lambda c: c["problem"]["data"]["X"]["hex"].__setitem__(0, 3), r"problem.data.X: could not decode"),
    "X of another dimension": (lambda c: c["problem"]["data"].__setitem__("X", {"shape": [8, 3], "hex": ["0x0p+0"] * 24}),
                               r"inconsistent data or measure \(X: .*d = 2.*d = 3"),
    "Y with two columns": (lambda c: c["problem"]["data"].__setitem__("Y", {"shape": [8, 2], "hex": ["0x0p+0"] * 16}),
                           r"inconsistent data or measure \(Y: .*2 columns"),
    "particles of another p": (lambda c: c["problem"]["measure"].__setitem__("particles", {"shape": [2, 4], "hex": ["0x0p+0"] * 8}),
                               r"particles: expected shape \(m, 3\).*got \(2, 4\)"),
    "masses of another m": (lambda c: c["problem"]["measure"].__setitem__("masses", {"shape": [3], "hex": ["0x1p-1"] * 3}),
                            r"masses: expected shape \(2,\) to match 2 particles, got \(3,\)"),
    "masses bad base64": (lambda c: c["problem"]["measure"].__setitem__("masses", {"shape": [2], "base64": "!!!"}),
                          r"problem.measure.masses: could not decode"),
    "unknown loss": (lambda c: c["problem"].__setitem__("loss", "hinge"), r"loss: expected one of"),
    "reg a float": (lambda c: c["problem"].__setitem__("reg", 0.0), r"problem.reg: expected a float.hex string"),
    "reg negative": (lambda c: c["problem"].__setitem__("reg", (-1.0).hex()), r"reg: expected a finite number >= 0"),
}


@pytest.mark.parametrize("what", sorted(EDITS))
def test_verify_malformed_certificate_names_the_key(certificate, what):
    edit, match = EDITS[what]
    _raises(lambda: mf.verify(_edit(certificate, edit)), match, mf.CertificateError)


@pytest.mark.parametrize("key", ["finite_width", "mean_field_search"])
def test_verify_optional_sections_of_the_wrong_type(certificate, key):
    _raises(lambda: mf.verify(_edit(certificate, lambda c: c.__setitem__(key, "x"), resign=False)), key,
            mf.CertificateError)


# ------------------------------------------------------------------------------------------------ CLI
def _cli(args):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = cli_main(args)
    return rc, out.getvalue(), err.getvalue()


def test_cli_verify_malformed_files(tmp_path, certificate):
    text = json.dumps(certificate)
    cases = {"truncated.json": (text[: len(text) // 2], "not valid JSON"),
             "list.json": ("[]", "expected a dict"),
             "noclaims.json": (json.dumps({k: v for k, v in certificate.items() if k != "claims"}), "'claims'"),
             "badtol.json": (json.dumps(_edit(certificate, lambda c: c.__setitem__("tol", "x"))), "certificate.tol")}
    for name, (body, key) in cases.items():
        (tmp_path / name).write_text(body)
        rc, out, err = _cli(["verify", str(tmp_path / name)])
        assert rc == 2, name
        assert err.startswith("mfsym: error:") and err.count("\n") == 1 and key in err, (name, err)
    rc, out, err = _cli(["verify", str(tmp_path / "absent.json")])
    assert rc == 2 and "CERT: cannot read" in err


def test_cli_verify_wrong_section_type_exits_2(tmp_path, certificate):
    (tmp_path / "c.json").write_text(json.dumps({**certificate, "finite_width": "x"}))
    rc, _, err = _cli(["verify", str(tmp_path / "c.json")])
    assert rc == 2 and "finite_width" in err


@pytest.fixture(scope="module")
def spec_files(tmp_path_factory, relu_global):
    d = tmp_path_factory.mktemp("specs")
    prob, mu = relu_global
    np.savez(d / "data.npz", X=prob.data.X, Y=prob.data.Y)
    mu.save(d / "mu.npz")
    np.savez(d / "data_d3.npz", X=np.ones((8, 3)), Y=prob.data.Y)
    np.savez(d / "data_nan.npz", X=np.full((8, 2), np.nan), Y=prob.data.Y)
    np.savez(d / "data_noY.npz", X=prob.data.X)
    np.savez(d / "data_Y2.npz", X=prob.data.X, Y=np.ones((8, 2)))
    np.savez(d / "mu_p5.npz", particles=np.ones((2, 5)), masses=np.ones(2))
    np.savez(d / "mu_m3.npz", particles=np.ones((2, 3)), masses=np.ones(3))
    np.savez(d / "mu_empty.npz", particles=np.ones((0, 3)), masses=np.ones(0))
    np.savez(d / "mu_inf.npz", particles=np.full((2, 3), np.inf), masses=np.ones(2))
    (d / "garbage.npz").write_text("hello")
    return d


BASE_SPEC = {"family": {"name": "relu", "d": 2, "outputs": 1}, "data": {"npz": "data.npz"}, "measure": {"npz": "mu.npz"}}


def _spec(edit):
    s = copy.deepcopy(BASE_SPEC)
    edit(s)
    return s


SPECS = {  # name -> (spec dict or raw text, substring of the one-line error)
    "missing family": (_spec(lambda s: s.pop("family")), "missing key 'family'"),
    "missing data": (_spec(lambda s: s.pop("data")), "missing key 'data'"),
    "missing measure": (_spec(lambda s: s.pop("measure")), "missing key 'measure'"),
    "family not a table": (_spec(lambda s: s.__setitem__("family", "relu")), "'family' must be a table"),
    "family without name": (_spec(lambda s: s["family"].pop("name")), "family.name must be a string"),
    "unknown family": (_spec(lambda s: s["family"].__setitem__("name", "gelu")), "family: expected one of"),
    "unknown family option": (_spec(lambda s: s["family"].__setitem__("depth", 3)), "depth"),
    "zero input dimension": (_spec(lambda s: s["family"].__setitem__("d", 0)), "d: expected an integer >= 1, got 0"),
    "data without npz or generator": (_spec(lambda s: s.__setitem__("data", {"foo": 1})), "data must have 'npz' or 'generator'"),
    "data npz path missing": (_spec(lambda s: s["data"].__setitem__("npz", "nope.npz")), "nope.npz"),
    "data npz not an npz": (_spec(lambda s: s["data"].__setitem__("npz", "garbage.npz")), "garbage.npz"),
    "data npz not a string": (_spec(lambda s: s["data"].__setitem__("npz", 3)), "data.npz must be a path string, got 3"),
    "data npz wrong d": (_spec(lambda s: s["data"].__setitem__("npz", "data_d3.npz")), "(d = 2)"),
    "data npz with NaN": (_spec(lambda s: s["data"].__setitem__("npz", "data_nan.npz")), "X: expected finite values"),
    "data npz without Y": (_spec(lambda s: s["data"].__setitem__("npz", "data_noY.npz")), "'X' and 'Y'"),
    "data npz with 2 label columns": (_spec(lambda s: s["data"].__setitem__("npz", "data_Y2.npz")), "2 columns"),
    "measure without npz": (_spec(lambda s: s.__setitem__("measure", {})), "measure must have 'npz'"),
    "measure npz missing": (_spec(lambda s: s["measure"].__setitem__("npz", "nope.npz")), "nope.npz"),
    "measure npz wrong p": (_spec(lambda s: s["measure"].__setitem__("npz", "mu_p5.npz")), "particles: expected shape (m, 3)"),
    "measure npz wrong masses": (_spec(lambda s: s["measure"].__setitem__("npz", "mu_m3.npz")), "masses: expected shape (2,)"),
    "measure npz empty": (_spec(lambda s: s["measure"].__setitem__("npz", "mu_empty.npz")), "at least one particle"),
    "measure npz infinite": (_spec(lambda s: s["measure"].__setitem__("npz", "mu_inf.npz")), "particles: expected finite values"),
    "unknown generator": (_spec(lambda s: s.__setitem__("data", {"generator": "mnist"})), "data.generator must be"),
    "generator bad option": (_spec(lambda s: s.__setitem__("data", {"generator": "teacher_student", "bogus": 1})), "bogus"),
    "generator n = 0": (_spec(lambda s: s.__setitem__("data", {"generator": "teacher_student", "n": 0})), "n: expected an integer >= 1, got 0"),
    "unknown loss": (_spec(lambda s: s.__setitem__("loss", "hinge")), "loss: expected one of"),
    "negative reg": (_spec(lambda s: s.__setitem__("reg", -1)), "reg: expected a finite number >= 0, got -1"),
    "reg a string": (_spec(lambda s: s.__setitem__("reg", "0.1")), "reg: expected a finite number >= 0, got '0.1'"),
    "unknown check option": (_spec(lambda s: s.__setitem__("check", {"speed": 1})), "check options must be among"),
    "check not a table": (_spec(lambda s: s.__setitem__("check", 3)), "check options"),
    "negative tol": (_spec(lambda s: s.__setitem__("check", {"tol": -1})), "tol: expected a finite number > 0, got -1"),
    "tol a string": (_spec(lambda s: s.__setitem__("check", {"tol": "1e-6"})), "tol: expected a finite number > 0"),
    "seed a string": (_spec(lambda s: s.__setitem__("check", {"seed": "x"})), "seed"),
    "truncated JSON": (json.dumps(BASE_SPEC)[:40], "is not valid JSON"),
    "top level a list": ("[1, 2]", "expected a table at the top level"),
}


@pytest.mark.parametrize("what", sorted(SPECS))
def test_cli_check_malformed_spec_exits_2_with_one_line(spec_files, what):
    spec, key = SPECS[what]
    path = spec_files / (what.replace(" ", "_").replace("=", "eq") + ".json")
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    rc, out, err = _cli(["check", str(path)])
    assert rc == 2 and out == ""
    assert err.startswith("mfsym: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert key in err, err


def test_cli_check_malformed_toml(spec_files):
    (spec_files / "broken.toml").write_text("family = {name = ")
    rc, _, err = _cli(["check", str(spec_files / "broken.toml")])
    assert rc == 2 and "is not valid TOML" in err and err.count("\n") == 1
    (spec_files / "ok.json").write_text(json.dumps(BASE_SPEC))
    rc, out, err = _cli(["check", str(spec_files / "ok.json")])
    assert rc == 0 and "verdict: global-minimizer" in out and err == ""


def test_cli_check_precision_string_exits_2(spec_files):
    path = spec_files / "prec.json"
    path.write_text(json.dumps(_spec(lambda s: s.__setitem__("check", {"precision_bits": "x"}))))
    rc, _, err = _cli(["check", str(path)])
    assert rc == 2 and "precision" in err


# ------------------------------------------------------------------------------------------------ properties
def _custom():
    u, x = sp.symbols("u x")
    return mf.families.from_expr(u**2 * sp.sin(x) + u * x, params={"u": ()}, inputs={"x": ()}, name="custom-poly")


FAMS = {
    "relu": lambda d, k: mf.families.relu(d=d, outputs=k),
    "relu-fixed": lambda d, k: mf.families.relu(d=d, outputs=0, bias=True),
    "sigmoid": lambda d, k: mf.families.sigmoid(d=d, outputs=k),
    "tanh": lambda d, k: mf.families.tanh(d=d, outputs=k, bias=False),
    "erf": lambda d, k: mf.families.erf(d=d, outputs=k),
    "attention": lambda d, k: mf.families.attention(d=2, outputs=k, tokens=2),
    "deconvolution": lambda d, k: mf.families.deconvolution(d=1, width="1/2"),
    "custom": lambda d, k: _custom(),
}
_FAM_CACHE: dict = {}


def _fam(name, d, k):
    key = (name, d, k)
    if key not in _FAM_CACHE:
        _FAM_CACHE[key] = FAMS[name](d, k)
    return _FAM_CACHE[key]


@st.composite
def random_problems(draw, names=tuple(FAMS), signed=True):
    fam = _fam(draw(st.sampled_from(sorted(names))), draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    n, m = draw(st.integers(2, 6)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    X = rng.standard_normal((n,) + fam.input_shape)
    Y = rng.standard_normal((n, fam.out_dim))
    reg = draw(st.sampled_from([0.0, 0.05]))
    signed = signed and reg == 0 and draw(st.booleans())  # a regulariser needs nonnegative masses
    masses = rng.uniform(0.2, 1.0, m) * (rng.choice([-1.0, 1.0], m) if signed else 1.0)
    mu = mf.Measure(fam, 0.8 * rng.standard_normal((m, fam.p)), masses)
    return mf.Problem(fam, mf.Samples(X, Y), reg=reg), mu


def _y_lipschitz(prob, mu):
    """Largest |eigenvalue| of the particle Hessian in the flow's metric coordinates y_j = sqrt|c_j| theta_j."""
    s = np.repeat(1.0 / np.sqrt(np.abs(mu.masses)), prob.family.p)
    return float(np.max(np.abs(np.linalg.eigvalsh(prob.particle_hessian(mu) * s[:, None] * s[None, :]))))


SMOOTH = ("sigmoid", "tanh", "erf", "attention", "deconvolution", "custom")


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_problems(names=SMOOTH))
def test_fixed_small_step_flow_never_increases_the_loss(case):
    """Explicit Euler with a step well below 1/L (L the Hessian bound in the flow metric y_j = sqrt|c_j|
    theta_j) is a descent method on a smooth loss (Nocedal & Wright §3.1, descent lemma): the loss never
    increases and the first step decreases it by about dt sum_j |c_j| |grad J(theta_j)|^2. Fixed steps
    (``adaptive=False``), so monotonicity is not enforced by backtracking. Smooth families only: relu
    losses are piecewise smooth and a fixed Euler step that crosses a kink can increase them (see the
    adaptive test below)."""
    prob, mu = case
    dt = 0.02 / max(1.0, _y_lipschitz(prob, mu))
    traj = mf.flow(prob, mu, steps=15, dt=dt, adaptive=False)
    L = traj.losses
    assert traj.stopped == "steps" and len(L) == 16
    assert np.all(np.diff(L) <= 1e-12 * max(1.0, abs(L[0]))), np.diff(L).max()
    G = prob.grad_potential(mu, mu.particles)
    rate = float(np.sum(np.abs(mu.masses) * np.sum(G**2, axis=1)))
    assert L[0] - L[1] >= 0.9 * dt * rate - 1e-13 * max(1.0, abs(L[0]))


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_problems())
def test_adaptive_flow_never_increases_the_loss_on_any_family(case):
    """The default (adaptive) flow never increases the loss on any family, relu kinks included, and it
    makes progress whenever the velocity is not zero."""
    prob, mu = case
    traj = mf.flow(prob, mu, steps=10, dt=0.5)
    L = traj.losses
    assert np.all(np.diff(L) <= 0.0)
    if prob.residual(mu) > 1e-8 and traj.stopped == "steps":
        assert L[-1] < L[0]


def _proved(cert):
    return any(c.get("outcome") == "proved" for c in cert.get("claims", []))


def _bump_hex(h, rel):
    x = float.fromhex(h)
    return (x * (1.0 + rel) + rel * (1e-3 if x == 0 else 0.0)).hex()


def _tamper(cert, rng):
    """Change one claimed number (an enclosure end, a threshold or a lower bound) by a relative 1e-6."""
    c = copy.deepcopy(cert)
    targets = []
    for i, cl in enumerate(c["claims"]):
        if cl.get("enclosure") is not None:
            targets += [(i, "enclosure", j) for j in (0, 1) if cl["enclosure"][j] not in ("inf", "-inf")]
        targets.append((i, "threshold", None))
        if "lambda_lower" in cl:
            targets.append((i, "lambda_lower", None))
    i, key, j = targets[int(rng.integers(len(targets)))]
    if j is None:
        c["claims"][i][key] = _bump_hex(c["claims"][i][key], 1e-6)
    else:
        c["claims"][i][key][j] = _bump_hex(c["claims"][i][key][j], 1e-6)
    return c, f"claim {c['claims'][i]['name']}.{key}{'' if j is None else [j]}"


@st.composite
def checkable_points(draw):
    """A random point (mostly not stationary), a teacher = student global minimizer, or a refined
    stationary point of a random start (minimum or saddle; may be unstable as a measure)."""
    kind = draw(st.sampled_from(["random", "teacher", "refined"]))
    name = draw(st.sampled_from(sorted(FAMS)))
    fam = _fam(name, draw(st.integers(1, 2)), 1)
    seed = draw(st.integers(0, 2**31 - 1))
    if kind == "teacher":
        data, mu = mf.datasets.teacher_student(fam, m_teacher=draw(st.integers(1, 2)), n=draw(st.integers(3, 8)),
                                               seed=seed)
        return mf.Problem(fam, data), mu, kind, seed
    rng = np.random.default_rng(seed)
    n, m = draw(st.integers(3, 6)), draw(st.integers(1, 2))
    X = rng.standard_normal((n,) + fam.input_shape)
    data = mf.Samples(X, rng.standard_normal((n, fam.out_dim)))
    prob = mf.Problem(fam, data)
    mu = mf.Measure(fam, rng.standard_normal((m, fam.p)))
    if kind == "refined":  # non-convergence only warns; the residual decides the verdict
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mu = mf.stationary(prob, mu, target="any", tol=1e-11, max_iter=30)
    return prob, mu, kind, seed


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(checkable_points(), st.integers(0, 2**31 - 1))
def test_certificates_verify_and_tampering_is_detected(point, tamper_seed):
    prob, mu, kind, seed = point
    rep = mf.check(prob, mu, seed=0, restarts=4, escaping=False)  # the sets are not in the certificate
    cert = json.loads(json.dumps(rep.certificate))
    ok = mf.verify(cert)
    if _proved(cert) or rep.verdict.value != "inconclusive":
        assert ok is True, (kind, rep.verdict, [(c["name"], c["outcome"]) for c in cert["claims"]])
    if kind == "teacher":
        assert rep.verdict.value != "unstable"
    bad, what = _tamper(cert, np.random.default_rng(tamper_seed))
    assert mf.verify(bad) is False, what


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_problems())
def test_a_point_that_is_not_stationary_is_reported_not_stationary(case):
    prob, mu = case
    tol = 1e-6
    assume(prob.residual(mu) > 10 * tol)
    rep = mf.check(prob, mu, tol=tol)
    assert rep.verdict.value == "not-stationary"
    assert rep.residual == pytest.approx(prob.residual(mu), rel=1e-12)
    assert rep.finite_width is None and rep.mean_field is None  # nothing else is claimed
    assert "mf.stationary" in rep.message
    claims = rep.certificate["claims"]
    assert [c["name"] for c in claims] == ["stationarity"] and claims[0]["outcome"] in ("refuted", "undecided")
    assert mf.verify(rep.certificate) is True


def test_no_instability_claim_near_a_global_minimizer_of_a_general_family():
    u, x = sp.symbols("u x")
    fam = mf.families.from_expr(u**2 * sp.sin(x) + u * x, params={"u": ()}, inputs={"x": ()}, name="custom-poly")
    X = [-0.2956168996972252, -0.621121005717758, -0.013576683210379659, 1.3588556748767358, 0.49165742151097613,
         1.0465133075568334, 0.6585686846402891]
    Y = [-0.4925993120952778, -0.9946887038935583, -0.022885955756177946, 1.7812077779019828, 0.8026463115789303,
         1.522484239327766, 1.0479138628099898]
    prob = mf.Problem(fam, mf.Samples(np.array(X)[:, None], np.array(Y)))
    mu = mf.Measure(fam, [[1.4513276498852654], [-0.7525149488210537]], [0.5, 0.5])
    assert prob.residual(mu) < 1e-6 and prob.loss(mu) < 1e-12
    assert mf.check(prob, mu).verdict.value != "unstable"
