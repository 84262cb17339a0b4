"""The mfsym command: demo, check SPEC, verify CERT, and one-line errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

import mfsym as mf
from mfsym.cli import main


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("spec")
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=25, seed=1)
    np.savez(d / "data.npz", X=data.X, Y=data.Y)
    prob = mf.Problem(fam, data)
    mf.datasets.width_one_fit(prob, starts=3, seed=0, tol=1e-12).save(d / "mu.npz")
    (d / "spec.toml").write_text('family = {name = "relu", d = 2, outputs = 1}\ndata = {npz = "data.npz"}\n'
                                 'measure = {npz = "mu.npz"}\n')
    (d / "gen.json").write_text(json.dumps({"family": {"name": "relu", "d": 2, "outputs": 1},
                                            "data": {"generator": "teacher_student", "m_teacher": 3, "n": 25,
                                                     "seed": 1},
                                            "measure": {"npz": "mu.npz"}}))
    (d / "bad.toml").write_text('family = {name = "relu", d = 2}\nmeasure = {npz = "mu.npz"}\n')
    return d


def test_demo_prints_verdict_quickly(capsys):
    t0 = time.perf_counter()
    assert main(["demo"]) == 0
    elapsed = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert "verdict: unstable" in out and "strict-local-min" in out and "escaping set" in out
    print(f"mfsym demo took {elapsed:.1f} s")


def test_check_toml_and_json(spec_dir, capsys, tmp_path):
    cert = tmp_path / "cert.json"
    assert main(["check", str(spec_dir / "spec.toml"), "--certificate", str(cert)]) == 0
    assert "verdict: unstable" in capsys.readouterr().out
    assert main(["verify", str(cert)]) == 0
    assert "valid" in capsys.readouterr().out
    c = json.loads(cert.read_text())
    c["verdict"] = "global-minimizer"
    cert.write_text(json.dumps(c))
    assert main(["verify", str(cert)]) == 1
    assert "REJECTED" in capsys.readouterr().out
    assert main(["check", str(spec_dir / "gen.json"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["verdict"] == "unstable" and rep["finite_width"]["classification"] == "strict-local-min"


def test_bad_input_one_line(spec_dir, capsys):
    assert main(["check", str(spec_dir / "bad.toml")]) == 2
    err = capsys.readouterr().err
    assert "'data'" in err and err.count("\n") == 1 and "Traceback" not in err
    assert main(["check", str(spec_dir / "missing.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["verify", str(spec_dir / "spec.toml")]) == 2


def test_console_entry_point_subprocess(spec_dir):
    r = subprocess.run([sys.executable, "-m", "mfsym.cli", "check", str(spec_dir / "bad.toml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "mfsym: error:" in r.stderr


def test_unknown_spec_key_is_an_error(tmp_path, capsys):
    from mfsym.cli import main

    spec = tmp_path / "typo.toml"
    spec.write_text('family = {name = "relu", d = 2}\ndata = {npz = "d.npz"}\nmeasure = {npz = "m.npz"}\n'
                    "regularizer = 0.1\n")
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'regularizer'" in err and err.count("\n") == 1
