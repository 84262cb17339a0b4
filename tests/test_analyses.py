"""The analyses in ``analyses/`` run in ``--quick`` mode and show the published trends.

Each script is loaded from its file, run once per module with ``main(["--quick", "--out", tmp])``;
the tests assert on the returned numbers and on the figures written.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ANALYSES = Path(__file__).resolve().parent.parent / "analyses"


def _run(name: str, tmp_path_factory) -> dict:
    spec = importlib.util.spec_from_file_location(f"analyses_{name}", ANALYSES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp(name)
    return module.main(["--quick", "--out", str(out), "--seed", "0"])


@pytest.fixture(scope="module")
def chizat_bach(tmp_path_factory):
    return _run("chizat_bach2018", tmp_path_factory)


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    return _run("bounded_nonlinearities", tmp_path_factory)


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    return _run("spurious_census", tmp_path_factory)


def _figures_exist(res: dict) -> None:
    assert res["figures"]
    for f in res["figures"]:
        assert Path(f).is_file() and Path(f).stat().st_size > 1000, f


# ---------------------------------------------------------------------------- Chizat & Bach 2018
def test_chizat_bach_excess_loss_decreases_with_m(chizat_bach):
    ms, m0 = chizat_bach["m"], chizat_bach["m0"]
    assert ms[0] < m0 < ms[-1]
    relu = np.array(chizat_bach["excess_loss"]["relu"][5])
    sig = np.array(chizat_bach["excess_loss"]["sigmoid"][5])
    # below the teacher width the excess loss is bounded away from 0; above it the flow fits the teacher
    assert np.all(np.diff(relu) < 0), relu
    assert relu[0] > 10 * relu[-1], relu
    assert sig[0] > 1.5 * sig[-1], sig


def test_chizat_bach_deconvolution_recovers_spikes(chizat_bach):
    dec = chizat_bach["deconvolution"]
    assert dec["loss_final"] < 0.5 * dec["loss_initial"]
    assert dec["position_error"] < 0.03  # spikes at least 0.15 apart; the particles concentrate on them
    assert all(np.sign(a) == np.sign(r) for a, r in zip(dec["amplitudes"], dec["recovered_amplitudes"]))
    _figures_exist(chizat_bach)


# ---------------------------------------------------------------------------- bounded nonlinearities
def test_bounded_nonglobal_points_escape(bounded):
    for st in bounded["studies"]:
        assert st["residual"] < 1e-6, st["name"]
        assert st["classification"] == "strict-local-min", st["name"]
        assert st["gap"] > 1e-3 and st["gap_at_infinity"], st["name"]
        assert 0 < st["level"] < st["gap"]
        assert st["margin"] > 0
        # the light mass inside K_c grows, and the loss goes below its stationary value
        assert st["escape_mass"][-1] > st["escape_mass"][0], st["name"]
        assert st["escape_norm"][-1] > st["escape_norm"][0], st["name"]
        assert st["escape_losses"][-1] < st["loss"], st["name"]
        # |A| grows at least at the predicted rate c (docs/mathematics.md, escaping sets)
        assert st["measured_rate"] >= 0.9 * st["growth_rate"], st["name"]
    sig = bounded["studies"][0]
    assert sig["verdict"] == "unstable"


def test_bounded_discretisation_converges_in_m(bounded):
    disc = bounded["discretisation"]
    W = np.array(disc["w2"])  # (len(m), times)
    dL = np.array(disc["loss_gap"])
    assert np.all(np.diff(W, axis=0) < 0), W  # W2 to the reference shrinks as m grows, at every time
    assert dL[0, -1] > dL[-1, -1], dL
    assert max(disc["w2_ratio_max"]) < 1.5  # W2 at time t stays comparable to W2 at time 0
    _figures_exist(bounded)


# ---------------------------------------------------------------------------- Safran & Shamir census
def test_census_every_spurious_minimum_is_unstable(census):
    assert census["n_spurious_runs"] > 0
    assert census["all_unstable"]
    for m in census["minima"]:
        assert m["verdict"] == "unstable" and m["certified_nonglobal"]
        assert m["classification"] == "strict-local-min"
        assert m["lambda_min"] > 0 and m["gap"] > 0 and m["loss"] > 1e-3
    assert census["max_residual"] < 1e-6


def test_census_rate_grows_with_k(census):
    frac = dict(zip(census["k"], census["fraction_spurious"]))
    assert frac[9] > frac[6]
    _figures_exist(census)


# ---------------------------------------------------------------------------- Safran & Shamir, certified
def test_ss18_minimum_certified_and_global_unchanged(tmp_path_factory):
    """k = n = 6 (Safran & Shamir 2018, Table 1; their Results/newExp-6-6.mat representative): a certified
    strict local minimum, unstable as a measure, verified; W = I keeps lambda_min = 1/4 - 1/(2 pi) (x15)."""
    res = _run("ss18_certified", tmp_path_factory)
    (row,) = res["rows"]
    assert row["loss_published_point"] == pytest.approx(0.025081, abs=1e-6)
    assert row["verdict"] == "unstable" and row["nonglobal_certified"] and row["verified"] is True
    assert row["classification"] == "strict-local-min" and row["finite_width_certified"]
    (g,) = res["global"]
    assert g["verdict"] == "global-minimizer" and g["certified"] and g["verified"] is True
    assert g["lambda_min"] == pytest.approx(0.25 - 1 / (2 * np.pi), abs=1e-12) and g["multiplicity"] == 15
