"""LaTeX of the derivations: compiles with pdflatex, no sympy noise, named intermediates present."""

from __future__ import annotations

import argparse
import shutil
import subprocess

import pytest

import mfsym as mf
from conftest import FAMILIES
from mfsym.symbolic import _command

NOISE = ("Piecewise", "KroneckerDelta", "Subs", "DiracDelta", "Heaviside(", "Derivative(", "MatrixElement", "Sum_")

BUILTIN = {
    "relu": ["z_i", r"\mathbb{1}"],
    "sigmoid": ["z_i", "s_i", r"\sigma'", r"\sigma''"],
    "tanh": ["z_i", r"\tanh'"],
    "erf": ["z_i", r"\mathrm{erf}'"],
    "attention": ["p_i", "D_i", "M_i", r"\operatorname{softmax}", r"\operatorname{diag}\left(p_i\right) - p_i p_i^{\top}"],
    "deconvolution": [r"\Delta_i", r"\kappa_i", r"\kappa'"],
}
OPTIONS = {"relu": {"d": 3}, "sigmoid": {"d": 2, "outputs": 2}, "tanh": {"d": 2}, "erf": {"d": 2},
           "attention": {"d": 2, "outputs": 2, "tokens": 3}, "deconvolution": {"d": 2}}


def _parse(argv):
    parser = argparse.ArgumentParser()
    _command.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_no_noise_and_sections(name):
    text = mf.derive(FAMILIES[name]()).latex()
    for word in NOISE:
        assert word not in text, word
    for sec in ("Loss and residuals", "First variation", "Hessian of the potential", "Reduced potential"):
        assert sec in text
    assert text.startswith(r"\documentclass") and text.rstrip().endswith(r"\end{document}")


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_named_intermediates(name):
    text = mf.derive(mf.families.by_name(name, **OPTIONS[name])).latex()
    for token in BUILTIN[name]:
        assert token in text, token


def test_sigmoid_derivative_is_simplified():
    text = mf.derive(mf.families.sigmoid(d=2)).latex()
    assert r"\sigma'\left(z_i\right) &= s_{i} \left(1 - s_{i}\right)" in text


def test_gaussian_kernel_in_log_derivative_form():
    text = mf.derive(mf.families.deconvolution(d=2, width="1/2")).latex()
    assert r"\prod_{l \neq j}" not in text   # the Gaussian case is written in vector form
    dirichlet = mf.derive(mf.families.deconvolution(d=2, kernel="dirichlet", cutoff=2)).latex()
    assert r"\prod_{l \neq j}" in dirichlet


def test_homogeneity_sections():
    relu = mf.derive(mf.families.relu(d=2)).latex()
    assert "Positively 2-homogeneous" in relu and "Output-linear" in relu and r"-\frac{1}{2} \max" in relu
    fixed = mf.derive(mf.families.relu(d=2, outputs=0, bias=True)).latex()
    assert "Positively 1-homogeneous" in fixed and "Output-linear" not in fixed
    sig = mf.derive(mf.families.sigmoid(d=2, outputs=0)).latex()
    assert "No homogeneity" in sig


def test_repr_latex_is_math_only():
    s = mf.derive(mf.families.tanh(d=2))._repr_latex_()
    assert s.startswith("$") and s.endswith("$") and r"\documentclass" not in s and "G_" in s


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@pytest.mark.parametrize("name", sorted(BUILTIN) + ["custom-poly", "logistic"])
def test_compiles_with_pdflatex(name, tmp_path):
    if name == "logistic":
        d = mf.derive(mf.families.sigmoid(d=2), loss="logistic")
    elif name in FAMILIES:
        d = mf.derive(FAMILIES[name]())
    else:
        d = mf.derive(mf.families.by_name(name, **OPTIONS[name]))
    d.to_tex(tmp_path / "out.tex")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "out.tex"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (tmp_path / "out.pdf").stat().st_size > 1000


def test_command_writes_file(tmp_path):
    out = tmp_path / "a.tex"
    args = _parse(["attention", "--d", "2", "--outputs", "1", "--tokens", "2", "--latex", str(out)])
    assert _command.run(args) == 0
    assert "D_i" in out.read_text()


def test_command_stdout_and_errors(capsys):
    assert _command.run(_parse(["deconvolution", "--kernel", "dirichlet", "--cutoff", "2"])) == 0
    assert r"\kappa_i" in capsys.readouterr().out
    assert _command.run(_parse(["relu", "--d", "0"])) == 2
    assert "d" in capsys.readouterr().err
    args = _parse(["sigmoid", "--no-bias"])
    assert args.bias is False and args.d is None
