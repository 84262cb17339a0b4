"""The getting-started page, mirrored step by step with assertions."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import mfsym as mf


@pytest.fixture(scope="module")
def setup():
    fam = mf.families.relu(d=3)
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=4, n=60, seed=0)
    return fam, mf.Problem(fam, data), teacher


def test_family_data_problem(setup):
    fam, prob, teacher = setup
    assert fam.blocks == {"a": (1,), "w": (3,)}
    assert prob.loss(teacher) == pytest.approx(0.0, abs=1e-14)


@pytest.fixture(scope="module")
def refined(setup):
    fam, prob, _ = setup
    mu0 = mf.Measure(fam, fam.random_particles(1, seed=3))
    traj = mf.flow(prob, mu0, steps=300, dt=0.5)
    assert traj.losses[-1] < traj.losses[0]
    mu = mf.stationary(prob, traj.measure, target="minimum")
    assert prob.residual(mu) < 1e-8
    return mu


def test_gap_and_check(setup, refined, tmp_path):
    fam, prob, _ = setup
    g = mf.meanfield.gap(prob, refined)
    assert g.kind == "homogeneous" and g.value > 1e-3
    assert prob.first_variation(refined, g.witness[None])[0] < 0
    rep = mf.check(prob, refined)
    assert rep.verdict == "unstable"
    assert rep.finite_width.classification in ("strict-local-min", "strict-saddle", "degenerate")
    assert mf.verify(rep.certificate) is True
    assert isinstance(rep.summary(), str) and "unstable" in rep.summary()


def test_derivation_to_tex(tmp_path):
    path = tmp_path / "sigmoid.tex"
    mf.derive(mf.families.sigmoid(d=2, outputs=2)).to_tex(path)
    text = path.read_text()
    assert r"\documentclass" in text and r"\end{document}" in text
    if shutil.which("pdflatex"):
        out = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", path.name],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout[-2000:]
