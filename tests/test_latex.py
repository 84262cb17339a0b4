"""LaTeX of the derivations: compiles with pdflatex, no sympy noise, named intermediates present."""

from __future__ import annotations

import argparse
import inspect
import shutil
import subprocess

import pytest
import sympy as sp

import mfsym as mf
from conftest import FAMILIES
from mfsym.symbolic import _command

NOISE = ("Piecewise", "KroneckerDelta", "Subs", "DiracDelta", "Heaviside(", "Derivative(", "MatrixElement", "Sum_")

BUILTIN = {
    "relu": ["z_i", r"\mathbf{1}"],
    "sigmoid": ["z_i", "s_i", r"\sigma'", r"\sigma''"],
    "tanh": ["z_i", r"\tanh'"],
    "erf": ["z_i", r"\mathrm{erf}'"],
    "attention": ["p_i", "D_i", r"M_i &= ", r"\rho_i &= ", r"\operatorname{softmax}", r"\operatorname{diag}\left(p_i\right) - p_i p_i^{\top}"],
    "deconvolution": [r"\Delta_i", r"\kappa_i", r"\kappa'"],
}
OPTIONS = {"relu": {"d": 3}, "sigmoid": {"d": 2, "outputs": 2}, "tanh": {"d": 2}, "erf": {"d": 2}, "softplus": {"d": 2},
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
@pytest.mark.parametrize("name", sorted(BUILTIN) + ["custom-poly", "custom-softplus", "custom-max", "custom-piecewise",
                                                   "softplus", "logistic"])
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
    assert capsys.readouterr().err.startswith("mfsym: error: d")
    args = _parse(["sigmoid", "--no-bias"])
    assert args.bias is False and args.d is None


def test_relu_indicator_is_bold_one_not_blackboard():
    text = mf.derive(mf.families.relu(d=2)).latex()
    assert r"\mathbf{1}\left[z_{i} > 0\right]" in text and r"\mathbb{1}" not in text


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_regulariser_is_omega_not_v(name):
    text = mf.derive(mf.families.by_name(name, **OPTIONS[name])).latex()
    assert r"\int \Omega\, d\mu" in text and r"\Omega = 0" in text
    assert r"\int V" not in text and "$V = 0$" not in text


def test_attention_defines_m_before_the_entrywise_formulas():
    text = mf.derive(mf.families.attention(d=2, outputs=1, tokens=3)).latex()
    neuron, potential = text.index("Derivatives of the neuron"), text.index("Hessian of the potential")
    assert neuron < text.index("M_i") < text.index(r"M_i &= ") < text.index("Entrywise") < potential
    assert text.count(r"\partial W_{ab}\, \partial W_{ce}") == 1   # remarks printed once, after M_i
    assert r"\text{(scores of the query $x_{i,T}$)}" in text and "pre-activations) of the query" not in text


def test_attention_m_matches_its_defining_formula():
    """The printed M_i = diag(rho) - rho p^T - p rho^T, rho = p o (Xg - (p^T X g) 1), equals the Hessian of
    g^T X^T softmax(z) in z (sympy, at a rational point)."""
    d = mf.derive(mf.families.attention(d=2, outputs=1, tokens=3))
    calc = d.calc
    zs = sp.symbols("z0:3", real=True)
    X = sp.Matrix([[1, 2], [-1, sp.Rational(1, 2)], [3, -2]])
    g = sp.Matrix([sp.Rational(2, 3), -1])
    e = [sp.exp(z) for z in zs]
    p = sp.Matrix(e) / sum(e)
    u = (g.T * X.T * p)[0, 0]
    point = {zs[0]: sp.Rational(1, 3), zs[1]: -sp.Rational(1, 2), zs[2]: sp.Rational(1, 5)}
    H = sp.hessian(u, zs).xreplace(point)
    pv = p.xreplace(point)
    c = X * g - (pv.T * X * g)[0, 0] * sp.ones(3, 1)
    rho = sp.Matrix([pv[t] * c[t] for t in range(3)])
    M = sp.diag(*rho) - rho * pv.T - pv * rho.T
    assert max(abs(v) for v in (H - M).evalf(30)) < 1e-25
    # and the engine's builders compute the same rho and M
    atoms = {dfn.atom.name: dfn for dfn in calc.definitions + calc.weight_definitions}
    env = {atoms["p_i"].atom: sp.ImmutableMatrix(pv)}
    env[atoms["D_i"].atom] = atoms["D_i"].build(env)
    X_atom, = [a for a in calc.inputs if a.name == "X_i"]
    env[X_atom], env[calc.g] = X, g
    env[atoms["rho_i"].atom] = atoms["rho_i"].build(env)
    assert max(abs(v) for v in (atoms["M_i"].build(env) - M).evalf(30)) < 1e-25


def test_degree_arithmetic_is_simplified():
    relu = mf.derive(mf.families.relu(d=2)).latex()
    assert "Since $\\psi$ is 1-homogeneous" in relu and "(2 - 1)" not in relu and "(2-1)/2" not in relu
    assert r"\alpha \sqrt{1 - \alpha^{2}}" in relu and r"-4 |\theta|^{2} J_\mu" in relu
    fixed = mf.derive(mf.families.relu(d=2, outputs=0)).latex()
    assert r"t^{1}" not in fixed and r"= t J_\mu(\theta)" in fixed
    assert r"= J_\mu(\theta)$" in fixed and r"1\, J_\mu" not in fixed
    assert r"-2 |\theta| J_\mu" in fixed and r"\cdot 1" not in fixed and r"|\theta|^{1}" not in fixed


def test_kernel_product_index_is_l():
    text = mf.derive(mf.families.deconvolution(d=2)).latex()
    assert r"\prod_{l=1}^{d} \kappa\left(\Delta_{il}\right)" in text and r"\prod_{j=1}^{d}" not in text


def test_to_tex_unwritable_path_names_path(tmp_path):
    d = mf.derive(mf.families.relu(d=2))
    bad = tmp_path / "missing" / "x.tex"
    with pytest.raises(mf.MfsymError, match="path.*missing"):
        d.to_tex(bad)


def test_command_defaults_when_sizes_not_given(tmp_path, capsys):
    out = tmp_path / "s.tex"
    assert _command.run(_parse(["sigmoid", "--outputs", "2", "--latex", str(out)])) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert r"w \in \mathbb{R}^{2}" in out.read_text()          # d defaults to 2
    assert _command.run(_parse(["attention"])) == 0
    text = capsys.readouterr().out
    assert r"V \in \mathbb{R}^{1 \times 2}" in text and "$p = 6$" in text   # outputs 1, tokens 3, d 2
    assert _command.run(_parse(["deconvolution", "--kernel", "dirichlet"])) == 0
    assert r"t \in \mathbb{R}^{2}" in capsys.readouterr().out


def test_command_tables_come_from_the_registry():
    # every registered family is a `derive` choice, with its factory's options and no others
    assert set(_command.FAMILY_NAMES) == set(mf.families.REGISTRY)
    for name, takes in _command.APPLIES.items():
        params = set(inspect.signature(mf.families.REGISTRY[name].factory).parameters)
        assert set(takes) == params, name
        assert set(_command.DEFAULTS[name]) <= params
    assert "softplus" in _command.FAMILY_NAMES and _command.APPLIES["softplus"] == ("d", "outputs", "bias")
    with pytest.raises(ValueError, match="--tokens applies only to attention"):
        _command.options_for("softplus", {"tokens": 3})


@pytest.mark.parametrize("argv, message", [
    (["relu", "--tokens", "3"],
     "mfsym: error: --tokens applies only to attention, factored_attention; relu takes --d, --outputs, --bias"),
    (["attention", "--bias"],
     "mfsym: error: --bias applies only to erf, relu, sigmoid, softplus, tanh; attention takes --d, --outputs, --tokens"),
    (["attention", "--no-bias"], "mfsym: error: --no-bias applies only to erf, relu, sigmoid, softplus, tanh;"),
    (["sigmoid", "--kernel", "gaussian"], "mfsym: error: --kernel applies only to deconvolution; sigmoid takes"),
    (["deconvolution", "--kernel", "gaussian", "--cutoff", "7"],
     ("mfsym: error: --cutoff applies only to deconvolution --kernel dirichlet;"
      " deconvolution --kernel gaussian takes --d, --kernel, --width")),
    (["deconvolution", "--cutoff", "7"], "mfsym: error: --cutoff applies only to deconvolution --kernel dirichlet"),
    (["deconvolution", "--kernel", "dirichlet", "--width", "1/3"],
     ("mfsym: error: --width applies only to deconvolution --kernel gaussian;"
      " deconvolution --kernel dirichlet takes --d, --kernel, --cutoff")),
    (["relu", "--d", "0"], "mfsym: error: d"),
])
def test_command_rejects_options_that_do_not_apply(argv, message, capsys):
    assert _command.run(_parse(argv)) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    err = cap.err.strip()
    assert err.startswith(message) and "\n" not in err and "unexpected keyword" not in err


def test_command_unwritable_latex_path(capsys):
    path = "/nonexistent/x.tex"
    assert _command.run(_parse(["relu", "--d", "2", "--latex", path])) == 2
    cap = capsys.readouterr()
    assert cap.err.strip() == f"mfsym: error: --latex: cannot write '{path}' (No such file or directory)"
    assert "Traceback" not in cap.err and cap.out == ""
