"""Notebook rendering (``_repr_html_``, short reprs), the LaTeX report (pdflatex), block-named witnesses,
progress reports, and ``import mfsym`` without the optional packages."""

from __future__ import annotations

import html.parser
import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mfsym as mf
from mfsym import _progress
from mfsym.cli import demo_problem


@pytest.fixture(scope="module")
def demo_report():
    prob, mu = demo_problem(0)
    return prob, mu, mf.check(prob, mu, seed=0)


class _Parser(html.parser.HTMLParser):
    """Collects the text of an HTML fragment and checks that every opened tag is closed."""

    VOID = {"br", "hr", "img"}

    def __init__(self):
        super().__init__()
        self.stack, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _html_text(fragment: str) -> str:
    p = _Parser()
    p.feed(fragment)
    p.close()
    assert not p.stack, f"unclosed tags {p.stack}"
    return " ".join(p.text)


def test_report_html_shows_verdict_and_numbers(demo_report):
    prob, mu, rep = demo_report
    text = _html_text(rep._repr_html_())
    assert "unstable" in text and "strict-local-min" in text
    assert f"{rep.mean_field.gap:.4g}" in text and f"{rep.finite_width.lambda_min:.4g}" in text
    # the witness by block name, with the values of the flat vector
    w = rep.mean_field.witness
    assert f"a = {w[0]:.4g}" in text and f"w = [{w[1]:.4g}, {w[2]:.4g}, {w[3]:.4g}]" in text
    assert len(repr(rep)) < 100 and "unstable" in repr(rep)


def test_ipython_display_picks_the_html(demo_report):
    """What Jupyter does with a returned object: IPython's display formatter yields our text/html."""
    formatters = pytest.importorskip("IPython.core.formatters")
    _, _, rep = demo_report
    data, _ = formatters.DisplayFormatter().format(rep)
    assert data["text/html"] == rep._repr_html_() and data["text/plain"] == repr(rep)


def test_result_objects_render_short(demo_report):
    prob, mu, rep = demo_report
    g = rep.mean_field.gap_object
    s = rep.mean_field.escaping_sets[0]
    rp = mf.meanfield.reduced_potential(prob, mu)
    sp = rep.finite_width.spectrum
    for obj, must in ((g, f"{g.value:.4g}"), (s, f"{s.level:.4g}"), (rp, "homogeneous"), (sp, "strict-local-min")):
        text = _html_text(obj._repr_html_())
        assert must in text, (type(obj).__name__, text)
        assert len(repr(obj)) < 160 and "array(" not in repr(obj)
    assert "rescaling" in _html_text(sp._repr_html_())


def test_trajectory_and_simulation_html():
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=20, seed=0)
    prob = mf.Problem(fam, data)
    tr = mf.flow(prob, mf.Measure(fam, fam.random_particles(3, seed=1), np.full(3, 1 / 3)), steps=20, dt=0.5,
                 progress=False)
    text = _html_text(tr._repr_html_())
    assert f"{tr.losses[0]:.4g}" in text and f"{tr.losses[-1]:.4g}" in text and tr.stopped in text


def test_witness_blocks_in_summary_and_json(demo_report):
    prob, mu, rep = demo_report
    w = rep.mean_field.witness
    blocks = json.loads(rep.to_json())["mean_field"]["witness_blocks"]
    assert set(blocks) == set(prob.family.blocks)
    # the blocks are the flat vector cut by the family's own slices (independent of the display code)
    for name in prob.family.blocks:
        np.testing.assert_array_equal(np.ravel(blocks[name]), w[prob.family.block_slice(name)])
    assert "witness theta_hat: a = " in rep.summary()
    g = rep.mean_field.gap_object
    assert g.to_dict()["witness_blocks"] == g.blocks
    s = rep.mean_field.escaping_sets[0].to_dict()
    np.testing.assert_array_equal(np.ravel(s["witness_blocks"]["w"]), np.asarray(s["witness"])[1:])
    # the certificate keeps its flat vectors: verify still accepts it
    assert mf.verify(rep.certificate) is True


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_report_latex_compiles(demo_report, tmp_path):
    _, _, rep = demo_report
    path = rep.to_tex(tmp_path / "report.tex")
    tex = path.read_text()
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (tmp_path / "report.pdf").stat().st_size > 1000
    assert "Missing character" not in (tmp_path / "report.log").read_text()


@pytest.fixture(scope="module")
def other_reports():
    """A global minimizer (the teacher itself), a non-stationary point, and a refined one."""
    fam = mf.families.relu(d=2)
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=2, n=20, seed=0)
    prob = mf.Problem(fam, data)
    moved = mf.Measure(fam, teacher.particles + 1e-3, teacher.masses)
    return {"global": mf.check(prob, teacher), "not-stationary": mf.check(prob, moved),
            "refined": mf.check(prob, moved, refine=True)}


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@pytest.mark.parametrize("which", ["global", "not-stationary", "refined"])
def test_other_verdicts_render_and_compile(other_reports, which, tmp_path):
    rep = other_reports[which]
    text = _html_text(rep._repr_html_())
    assert rep.verdict.value in text
    if which == "refined":
        assert rep.refinement is not None and "refinement" in text
        assert "Refinement." in rep.latex()
    rep.to_tex(tmp_path / "r.tex")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "r.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_text_escaping_compiles(tmp_path):
    """Every character that breaks text mode, as it appears in messages and claim statements."""
    from mfsym.stability._report import PREAMBLE, tex_text

    nasty = r"S^3 \hat x_1 <= 1e-6 > |v| & 50% #1 {a} ~b $c `mf.stationary` λ κ ≥ δ"
    body = tex_text(nasty)
    assert r"\texttt{mf.stationary}" in body and "$<$" in body and r"\^" not in body
    (tmp_path / "t.tex").write_text(PREAMBLE % ("t", "0") + body + "\n\\end{document}\n")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]


def test_to_tex_unwritable_path(demo_report, tmp_path):
    _, _, rep = demo_report
    with pytest.raises(mf.MfsymError, match="path: cannot write"):
        rep.to_tex(tmp_path / "missing" / "r.tex")


# ---------------------------------------------------------------------------------------------- progress
def test_progress_fallback_logs_lines(caplog, monkeypatch):
    monkeypatch.setattr(_progress, "_LOG_EVERY", 0.0)
    monkeypatch.setattr(_progress, "_interactive", lambda: False)  # as in a log file: no tqdm bar
    with caplog.at_level(logging.INFO, logger="mfsym.progress"):
        with _progress.progress(total=3, desc="phase", enabled=True) as bar:
            for _ in range(3):
                bar.update(1)
                bar.set_postfix(loss=0.5)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("phase: 1/3") and "loss=0.5" in lines[-1] and lines[-1].endswith("done")
    assert not any("\r" in line for line in lines)


def test_progress_disabled_is_silent_and_iterates(capsys, caplog):
    with caplog.at_level(logging.INFO, logger="mfsym.progress"):
        assert list(_progress.progress(range(4), enabled=False)) == [0, 1, 2, 3]
    assert not caplog.records and capsys.readouterr().err == ""
    with pytest.raises(mf.MfsymError, match="progress: expected True, False or None"):
        _progress.progress(total=1, enabled="yes")


def test_progress_auto_off_a_terminal(monkeypatch):
    monkeypatch.delenv("MFSYM_PROGRESS", raising=False)
    assert _progress.auto_enabled() is False  # pytest captures stderr: not a terminal, not a notebook
    monkeypatch.setenv("MFSYM_PROGRESS", "1")
    assert _progress.auto_enabled() is True


def test_progress_in_a_jupyter_kernel_uses_tqdm_auto(monkeypatch):
    """In a kernel stderr is no terminal, yet a report is shown (a tqdm.auto widget when tqdm is there)."""
    import types

    class ZMQInteractiveShell:  # the class name IPython gives the notebook kernel's shell
        pass
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: ZMQInteractiveShell()
    monkeypatch.setitem(sys.modules, "IPython", fake)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.delenv("MFSYM_PROGRESS", raising=False)
    assert _progress.auto_enabled() is True
    tqdm_auto = pytest.importorskip("tqdm.auto")
    bar = _progress.progress(total=2, desc="nb")
    try:
        assert isinstance(bar, tqdm_auto.tqdm)
    finally:
        bar.close()


def test_flow_progress_reports_without_carriage_returns(monkeypatch, caplog, capsys):
    monkeypatch.setattr(_progress, "_LOG_EVERY", 0.0)
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=20, seed=0)
    prob = mf.Problem(fam, data)
    with caplog.at_level(logging.INFO, logger="mfsym.progress"):
        tr = mf.flow(prob, mf.Measure(fam, fam.random_particles(3, seed=1), np.full(3, 1 / 3)), steps=25, dt=0.5,
                     progress=True)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("mf.flow: 1/25") and lines[-1].endswith("done")
    assert f"loss={tr.losses[-1]:.4g}" in lines[-1]
    assert not any("\r" in line for line in lines) and "\r" not in capsys.readouterr().err


def test_check_progress_counts_its_phases_and_quiets_nested_reports(monkeypatch, caplog):
    monkeypatch.setattr(_progress, "_LOG_EVERY", 0.0)
    prob, mu = demo_problem(0)
    with caplog.at_level(logging.INFO, logger="mfsym.progress"):
        rep = mf.check(prob, mu, seed=0, progress=True)
    lines = [r.getMessage() for r in caplog.records]
    assert rep.verdict.value == "unstable"  # every phase runs for an unstable point
    phases = [line.split("phase=")[1].removesuffix(" done") for line in lines if "phase=" in line]
    assert phases[:6] == list(mf.stability._check.PHASES)
    assert lines[-1].startswith("mf.check: 6/6") and lines[-1].endswith("done")
    assert all(line.startswith("mf.check") for line in lines)  # gap and escaping sets inside check: quiet
    with pytest.raises(mf.MfsymError, match="progress: expected True or False or None"):
        mf.check(prob, mu, progress="yes")


def test_stationary_and_gap_progress(monkeypatch, caplog):
    monkeypatch.setattr(_progress, "_LOG_EVERY", 0.0)
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=30, seed=0)
    prob = mf.Problem(fam, data)
    mu0 = mf.Measure(fam, fam.random_particles(3, seed=1), np.full(3, 1 / 3))
    with caplog.at_level(logging.INFO, logger="mfsym.progress"):
        mu = mf.stationary(prob, mu0, progress=True)
        g = mf.meanfield.gap(prob, mu, progress=True)
    lines = [r.getMessage() for r in caplog.records]
    st = [line for line in lines if line.startswith("mf.stationary: ")]
    gp = [line for line in lines if line.startswith("mf.meanfield.gap: ")]
    assert len(st) >= 2 and st[-1].endswith("done")
    assert len(gp) >= 3 and gp[-1].endswith("done")  # one line per local search
    assert g.value >= 0


# ---------------------------------------------------------------------------------------------- optional packages
HIDE = """
import sys
HIDDEN = ("matplotlib", "tqdm", "dask", "distributed", "jax", "torch", "safetensors", "IPython")


class Hide:                           # as if the optional packages were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, Hide())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HIDE + code], capture_output=True, text=True, timeout=300)


def test_import_without_optional_packages():
    r = _run("""
import mfsym as mf
assert not any(m.split('.')[0] in HIDDEN for m in sys.modules)
from mfsym.cli import demo_problem
prob, mu = demo_problem(0)
try:
    mf.plot.plot_spectrum(mf.stability.spectrum(prob, mu))
except mf.MfsymError as exc:
    print("plot:", exc)
try:
    mf.meanfield.plot_landscape(prob, mu)
except ImportError as exc:
    print("landscape:", exc)
with mf._progress.progress(total=2, desc="x", enabled=True) as bar:
    bar.update(2)
print("progress:", type(bar).__name__)
""")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "plot: plots need the optional package 'matplotlib': pip install mfsym[plot]"
    assert out[1].startswith("landscape: ") and "pip install mfsym[plot]" in out[1]
    assert out[2] == "progress: _Report"
