"""Every bad input of the user walkthrough gives one clean line naming the argument and what was expected,
through the API (an MfsymError) and the CLI (``mfsym: error: ...``, exit 2); Ctrl-C exits 130; --version."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import mfsym as mf
from mfsym import cli
from mfsym._validate import available_memory


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text, text
    return text


@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 truncated zip")
    (tmp_path / "text.npz").write_text("not an archive")
    np.savez(tmp_path / "objects.npz", particles=np.array([{"a": 1}], dtype=object))
    return tmp_path


# ---------------------------------------------------------------------------------------------- files (API)
@pytest.mark.parametrize("name, expected", [
    ("x.npy", "single-array .npy file; expected an .npz archive"),
    ("corrupt.npz", "corrupt .npz archive"),
    ("text.npz", "not an .npz archive"),
    ("objects.npz", "object arrays"),
    ("missing.npz", "No such file"),
])
def test_measure_load_wrong_kind_or_corrupt(files, name, expected):
    fam = mf.families.relu(d=2)
    with pytest.raises(mf.MeasureError, match=expected) as info:
        mf.Measure.load(fam, files / name)
    assert _one_line(info.value).startswith("path: could not read a measure from")


def test_measure_load_refuses_arrays_the_family_does_not_have(tmp_path):
    fam = mf.families.relu(d=2)  # blocks a, w: no bias
    np.savez(tmp_path / "net.npz", a=np.ones((3, 1)), w=np.ones((3, 2)), b=np.zeros(3), masses=np.ones(3))
    with pytest.raises(mf.MeasureError, match=r"has array\(s\) \['b'\] that family relu \(blocks \['a', 'w'\]\)"):
        mf.Measure.load(fam, tmp_path / "net.npz")
    with_bias = mf.families.relu(d=2, bias=True)
    assert mf.Measure.load(with_bias, tmp_path / "net.npz").blocks["b"].shape == (3,)


def test_measure_save_into_missing_directory(tmp_path):
    fam = mf.families.relu(d=2)
    mu = mf.Measure(fam, fam.random_particles(2))
    with pytest.raises(mf.MeasureError, match="path: cannot write .* does not exist") as info:
        mu.save(tmp_path / "nowhere" / "mu.npz")
    _one_line(info.value)
    with pytest.raises(mf.MeasureError, match="is a directory"):
        mu.save(tmp_path)
    mu.save(tmp_path / "mu.npz")  # and the good path still works
    assert np.array_equal(mf.Measure.load(fam, tmp_path / "mu.npz").particles, mu.particles)


def test_report_to_tex_unwritable(tmp_path):
    fam = mf.families.relu(d=2)
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=2, n=10, seed=0)
    rep = mf.check(mf.Problem(fam, data), teacher)
    with pytest.raises(mf.MfsymError, match="path: cannot write"):
        rep.to_tex(tmp_path / "nowhere" / "r.tex")


# ---------------------------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("call, name", [
    (lambda fam: fam.random_particles(-1), "m: expected an integer >= 1, got -1"),
    (lambda fam: fam.random_inputs(-1), "n: expected an integer >= 1, got -1"),
    (lambda fam: fam.random_particles(2.0), "m: expected an integer >= 1, got 2.0"),
])
def test_negative_or_float_counts(call, name):
    with pytest.raises(mf.MfsymError, match=name) as info:
        call(mf.families.relu(d=2))
    _one_line(info.value)


def test_sizes_beyond_memory_are_refused_before_allocating():
    big = 10 ** 12  # far beyond any machine this runs on
    assert 8 * big > available_memory()
    cases = [
        (lambda: mf.families.relu(d=big), r"d: d = 10{12} gives p = .* more than the .* of memory available"),
        (lambda: mf.families.sigmoid(d=2, outputs=big), r"outputs: outputs = 10{12}"),
        (lambda: mf.families.attention(d=2, outputs=1, tokens=big), r"tokens: tokens = 10{12}"),
        (lambda: mf.families.deconvolution(d=big), r"d: d = 10{12}"),
        (lambda: mf.families.relu(d=2).random_particles(big), r"m: 10{12} particles of 3 parameters would need "
                                                                r"21.8 TiB"),
        (lambda: mf.datasets.teacher_student(mf.families.relu(d=2), m_teacher=2, n=big),
         r"n: the data set \(n = 10{12} samples of shape \(2,\), labelled by 2 teacher neurons\) would need [0-9.]+ TiB"),
        (lambda: mf.datasets.teacher_student(mf.families.relu(d=2), m_teacher=big, n=10), r"m_teacher: the data set"),
        (lambda: mf.datasets.deconvolution(mf.families.deconvolution(d=3), n=10 ** 5), r"n: the data set \(100000\^3 "
                                                                                          r"grid points"),
    ]
    for call, expected in cases:
        t0 = time.perf_counter()
        with pytest.raises(mf.MfsymError, match=expected) as info:
            call()
        _one_line(info.value)
        assert time.perf_counter() - t0 < 5  # refused up front, not after trying


def test_byte_estimate_matches_the_arrays():
    """The estimate in the message is the size of the array that would be allocated (m p float64)."""
    from mfsym._validate import format_bytes

    m, p = 10 ** 12, 3
    assert format_bytes(8 * m * p) == "21.8 TiB"
    assert format_bytes(np.zeros((1000, 3)).nbytes) == "23.4 KiB"


# ---------------------------------------------------------------------------------------------- runaway parameters
def test_dirichlet_cutoff_bounded():
    t0 = time.perf_counter()
    with pytest.raises(mf.FamilyError, match=r"cutoff: expected an integer in \[1, 200\] \(the kernel is written out") \
            as info:
        mf.families.deconvolution(d=1, kernel="dirichlet", cutoff=10 ** 9)
    _one_line(info.value)
    assert time.perf_counter() - t0 < 5
    assert mf.families.deconvolution(d=1, kernel="dirichlet", cutoff=3).name == "deconvolution"


# ---------------------------------------------------------------------------------------------- tolerances
@pytest.fixture(scope="module")
def small():
    fam = mf.families.relu(d=2)
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=2, n=10, seed=0)
    return mf.Problem(fam, data), teacher


@pytest.mark.parametrize("kw, expected", [
    ({"tol": 1e300}, r"tol: expected a tolerance in \(0, 0.01\]"),
    ({"gap_tol": 1e300}, r"gap_tol: expected a tolerance in \(0, 0.01\]"),
    ({"gap_tol": 0.5}, r"gap_tol: expected a tolerance in \(0, 0.01\]"),
    ({"tol": 0.0}, "tol: expected a finite number > 0"),
    ({"gap_tol": float("nan")}, "gap_tol: expected a finite number > 0"),
    ({"tol": True}, "tol: expected a finite number > 0"),
])
def test_check_tolerances_out_of_range(small, kw, expected):
    prob, mu = small
    with pytest.raises(mf.MfsymError, match=expected) as info:
        mf.check(prob, mu, **kw)
    _one_line(info.value)


def test_upper_bound_is_inclusive(small):
    prob, mu = small
    rep = mf.check(prob, mu, tol=1e-2, gap_tol=1e-2, escaping=False)
    assert rep.tol == 1e-2


# ---------------------------------------------------------------------------------------------- array kinds
@pytest.mark.parametrize("kind", ["bool", "complex", "object"])
def test_boolean_complex_object_arrays_rejected(kind):
    fam = mf.families.relu(d=2)
    make = {"bool": lambda s: np.ones(s, dtype=bool), "complex": lambda s: np.ones(s, dtype=complex),
            "object": lambda s: np.full(s, None, dtype=object)}[kind]
    expected = {"bool": "got booleans", "complex": "got complex", "object": "got dtype object"}[kind]
    calls = {
        "X": lambda: mf.Samples(make((4, 2)), np.ones((4, 1))),
        "Y": lambda: mf.Samples(np.ones((4, 2)), make((4, 1))),
        "particles": lambda: mf.Measure(fam, make((3, 3))),
        "masses": lambda: mf.Measure(fam, np.ones((3, 3)), make(3)),
        "thetas": lambda: mf.Problem(fam, mf.Samples(np.ones((4, 2)), np.ones((4, 1)))).first_variation(
            mf.Measure(fam, np.ones((3, 3))), make((2, 3))),
    }
    for name, call in calls.items():
        with pytest.raises(mf.MfsymError, match=rf"^{name}: expected .*{expected}") as info:
            call()
        _one_line(info.value)


# ---------------------------------------------------------------------------------------------- CLI
def _spec(tmp_path, **over):
    fam = mf.families.relu(d=2)
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=2, n=20, seed=0)
    teacher.save(tmp_path / "mu.npz")
    spec = {"family": {"name": "relu", "d": 2},
            "data": {"generator": "teacher_student", "m_teacher": 2, "n": 20, "seed": 0},
            "measure": {"npz": "mu.npz"}}
    spec.update(over)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def _cli(args, capsys):
    rc = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("over, expected", [
    ({"measure": {"npz": "x.npy"}}, "SPEC: measure.npz: could not read a measure from .*single-array .npy file"),
    ({"data": {"npz": "x.npy"}}, "SPEC: data.npz: could not read the data from .*single-array .npy file"),
    ({"data": {"npz": "corrupt.npz"}}, "SPEC: data.npz: could not read the data from .*corrupt .npz archive"),
    ({"measure": {"npz": "corrupt.npz"}}, "SPEC: measure.npz: could not read a measure from .*corrupt .npz"),
    ({"data": {"generator": "teacher_student", "m_teacher": 2, "n": 10 ** 12}}, "n: the data set .* would need"),
    ({"family": {"name": "deconvolution", "d": 1, "kernel": "dirichlet", "cutoff": 10 ** 9}},
     r"cutoff: expected an integer in \[1, 200\]"),
    ({"check": {"gap_tol": 1e300}}, r"gap_tol: expected a tolerance in \(0, 0.01\]"),
])
def test_cli_bad_inputs_one_line(files, capsys, over, expected):
    import re

    rc, out, err = _cli(["check", _spec(files, **over)], capsys)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("mfsym: error: "), err
    assert re.search(expected, err), err


def test_cli_deeply_nested_json(tmp_path, capsys):
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    rc, _, err = _cli(["check", tmp_path / "deep.json"], capsys)
    assert rc == 2 and err == f"mfsym: error: SPEC: {str(tmp_path / 'deep.json')!r} nests deeper than a spec can " \
                              "(expected a few tables)\n"
    (tmp_path / "deep_cert.json").write_text('{"a":' * 100000 + "1" + "}" * 100000)
    rc, _, err = _cli(["verify", tmp_path / "deep_cert.json"], capsys)
    assert rc == 2 and err.count("\n") == 1 and err.startswith("mfsym: error: ")


def test_cli_binary_certificate(files, capsys):
    rc, _, err = _cli(["verify", files / "x.npy"], capsys)
    assert rc == 2 and "is not a text file" in err and err.count("\n") == 1


def test_cli_unwritable_certificate_checked_before_the_work(tmp_path, capsys, monkeypatch):
    spec = _spec(tmp_path)
    ran = []
    monkeypatch.setattr(mf, "check", lambda *a, **k: ran.append(1))
    rc, _, err = _cli(["check", spec, "--certificate", tmp_path / "nowhere" / "c.json"], capsys)
    assert rc == 2 and "--certificate: cannot write" in err and "does not exist" in err and not ran
    rc, _, err = _cli(["check", spec, "--certificate", tmp_path], capsys)
    assert rc == 2 and "is a directory" in err and not ran


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mfsym {mf.__version__}"


def test_cli_internal_error_is_one_line(capsys, monkeypatch):
    def boom(args):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(cli, "_cmd_demo", boom)
    monkeypatch.delenv("MFSYM_TRACEBACK", raising=False)
    rc, _, err = _cli(["demo"], capsys)
    assert rc == 3 and err.startswith("mfsym: internal error: ZeroDivisionError: a bug") and err.count("\n") == 1


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery")
def test_ctrl_c_exits_130_with_one_line(tmp_path):
    code = ("import time, mfsym.cli as c\n"
            "def slow(args):\n"
            "    print('started', flush=True)\n"
            "    time.sleep(60)\n"
            "c._cmd_demo = slow\n"
            "raise SystemExit(c.main(['demo']))\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "MFSYM_PROGRESS": "0"})
    assert p.stdout.readline().strip() == "started"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err == "mfsym: interrupted\n", err
