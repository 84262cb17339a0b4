"""The ``mfsym`` command: ``demo``, ``check SPEC``, ``verify CERT``, ``derive FAMILY``.

Exit codes: 0 on success (``verify``: certificate valid), 1 when ``verify`` rejects or cannot decide
a certificate, 2 on bad input (a one-line ``mfsym: error: ...``, no traceback), 3 on an internal error
(one line; ``MFSYM_TRACEBACK=1`` shows the traceback), 130 when interrupted (Ctrl-C).

A SPEC is a TOML or JSON file::

    family = {name = "relu", d = 3, outputs = 1}
    data = {generator = "teacher_student", m_teacher = 4, n = 200, seed = 0}   # or {npz = "data.npz"}
    measure = {npz = "mu.npz"}                                                 # Measure.save format
    # optional: loss = "square", reg = 0.0, [check] tol = 1e-6, seed = 0, refine = false, max_move = 0.05

or, for a trained two-layer network (``mf.from_state_dict``; replaces ``family`` and ``measure``)::

    model = {safetensors = "net.safetensors", activation = "tanh"}            # or {npz = "net.npz", ...}
    data = {npz = "data.npz"}

Relative paths are resolved against the spec's directory; a data ``.npz`` holds arrays ``X`` and ``Y``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ._errors import CertificateError, MfsymError
from ._validate import read_npz, writable_path
from ._version import __version__


# ---------------------------------------------------------------------------- spec files
def _read_spec(path: str) -> dict:
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise CertificateError(f"SPEC: cannot read {path!r} ({exc.strerror})") from None
    if p.suffix.lower() == ".json":
        try:
            spec = json.loads(text)
        except ValueError as exc:
            raise CertificateError(f"SPEC: {path!r} is not valid JSON ({exc})") from None
        except RecursionError:
            raise CertificateError(f"SPEC: {path!r} nests deeper than a spec can (expected a few tables)") from None
    else:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python < 3.11
            raise CertificateError("SPEC: TOML needs Python >= 3.11; use a .json spec") from None
        try:
            spec = tomllib.loads(text.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise CertificateError(f"SPEC: {path!r} is not valid TOML ({exc})") from None
    if not isinstance(spec, dict):
        raise CertificateError(f"SPEC: expected a table at the top level of {path!r}")
    return spec


#: the top-level keys of a check spec (unknown keys are errors: a typo must not be silently ignored)
SPEC_KEYS = frozenset({"family", "data", "measure", "model", "loss", "reg", "check"})
#: the keys of a spec's [check] table (keyword arguments of mf.check)
CHECK_KEYS = ("tol", "gap_tol", "seed", "precision_bits", "restarts", "escaping", "refine", "max_move")


def _table(spec: dict, key: str) -> dict:
    if key not in spec:
        raise CertificateError(f"SPEC: missing key {key!r}")
    val = spec[key]
    if not isinstance(val, dict):
        raise CertificateError(f"SPEC: {key!r} must be a table, got {val!r}")
    return val


def _path(base: Path, value: Any, key: str) -> Path:
    if not isinstance(value, str):
        raise CertificateError(f"SPEC: {key} must be a path string, got {value!r}")
    p = Path(value)
    return p if p.is_absolute() else base / p


def build_from_spec(spec: dict, base: Path = Path(".")):
    """``(Problem, Measure, check options)`` from a parsed spec."""
    import numpy as np

    import mfsym as mf

    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise CertificateError(f"SPEC: unknown key {unknown[0]!r} (expected {', '.join(sorted(SPEC_KEYS))})")
    opts = spec.get("check", {})
    if not isinstance(opts, dict) or set(opts) - set(CHECK_KEYS):
        raise CertificateError(f"SPEC: check options must be among {', '.join(CHECK_KEYS)}; got {opts!r}")
    if "model" in spec:
        prob, mu = _model_from_spec(spec, base)
        return prob, mu, opts
    fam_spec = dict(_table(spec, "family"))
    name = fam_spec.pop("name", None)
    if not isinstance(name, str):
        raise CertificateError(f"SPEC: family.name must be a string, got {name!r}")
    fam = mf.families.by_name(name, **fam_spec)
    data_spec = dict(_table(spec, "data"))
    if "npz" in data_spec:
        path = _path(base, data_spec["npz"], "data.npz")
        arrays = read_npz(path, "SPEC: data.npz", CertificateError, what="the data")
        if "X" not in arrays or "Y" not in arrays:
            raise CertificateError(f"SPEC: data.npz {str(path)!r} must hold arrays 'X' and 'Y', has {sorted(arrays)}")
        data = mf.Samples(arrays["X"], arrays["Y"])
    elif "generator" in data_spec:
        gen = data_spec.pop("generator")
        fn = {"teacher_student": mf.datasets.teacher_student, "deconvolution": mf.datasets.deconvolution}.get(gen)
        if fn is None:
            raise CertificateError(f"SPEC: data.generator must be 'teacher_student' or 'deconvolution', got {gen!r}")
        try:
            data, _ = fn(fam, **data_spec)
        except TypeError as exc:
            raise CertificateError(f"SPEC: data: bad options for {gen} ({exc})") from None
    else:
        raise CertificateError("SPEC: data must have 'npz' or 'generator'")
    meas = _table(spec, "measure")
    if "npz" not in meas:
        raise CertificateError("SPEC: measure must have 'npz'")
    try:
        mu = mf.Measure.load(fam, _path(base, meas["npz"], "measure.npz"))
    except mf.MeasureError as exc:  # name the spec key, not the API's argument
        raise CertificateError(f"SPEC: measure.npz: {str(exc).removeprefix('path: ')}") from None
    loss = spec.get("loss", "square")
    reg = spec.get("reg", 0.0)
    prob = mf.Problem(fam, data, loss=loss, reg=reg)
    return prob, mu, opts


def _model_from_spec(spec: dict, base: Path):
    """``(Problem, Measure)`` of ``model = {safetensors|npz = PATH, activation = NAME}`` (``mf.from_state_dict``)."""
    import numpy as np

    from .loaders import ACTIVATIONS, from_state_dict

    if "family" in spec or "measure" in spec:
        raise CertificateError("SPEC: 'model' replaces 'family' and 'measure'; give either model, or family and "
                               "measure")
    model = _table(spec, "model")
    unknown = sorted(set(model) - {"safetensors", "npz", "activation"})
    if unknown:
        raise CertificateError(f"SPEC: unknown key model.{unknown[0]} (expected safetensors or npz, and activation)")
    files = [k for k in ("safetensors", "npz") if k in model]
    if len(files) != 1:
        raise CertificateError("SPEC: model must have 'safetensors' or 'npz' (one weights file)")
    activation = model.get("activation")
    if activation not in ACTIVATIONS:
        raise CertificateError(f"SPEC: model.activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    data_spec = _table(spec, "data")
    if set(data_spec) != {"npz"}:
        raise CertificateError("SPEC: with a model, data must be {npz = 'data.npz'} holding the X and Y it is "
                               "checked on")
    path = _path(base, data_spec["npz"], "data.npz")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise CertificateError(f"SPEC: data.npz: cannot read {str(path)!r} ({exc})") from None
    if "X" not in arrays or "Y" not in arrays:
        raise CertificateError(f"SPEC: data.npz {str(path)!r} must hold arrays 'X' and 'Y', has {sorted(arrays)}")
    weights = _path(base, model[files[0]], f"model.{files[0]}")
    if weights.suffix.lower() != f".{files[0]}":
        raise CertificateError(f"SPEC: model.{files[0]} must name a .{files[0]} file, got {str(weights)!r}")
    return from_state_dict(weights, arrays["X"], arrays["Y"], activation=activation, loss=spec.get("loss", "square"),
                           reg=spec.get("reg", 0.0))


# ---------------------------------------------------------------------------- commands
def _cmd_check(args) -> int:
    import mfsym as mf

    if args.certificate:  # before the work: an unwritable path must not cost a whole check
        writable_path(args.certificate, "--certificate", CertificateError)
    spec = _read_spec(args.spec)
    prob, mu, opts = build_from_spec(spec, Path(args.spec).resolve().parent)
    if args.refine:
        opts = {**opts, "refine": True}
    rep = mf.check(prob, mu, **opts)
    if args.json:
        print(rep.to_json())
    else:
        print(rep.summary())
    if args.certificate:
        try:
            Path(args.certificate).write_text(json.dumps(rep.certificate))
        except OSError as exc:
            raise CertificateError(f"--certificate: cannot write {args.certificate!r} ({exc.strerror or exc})") from None
        if not args.json:
            print(f"certificate written to {args.certificate}")
    return 0


def _cmd_verify(args) -> int:
    import mfsym as mf

    try:
        text = Path(args.cert).read_text(encoding="utf-8")
    except OSError as exc:
        raise CertificateError(f"CERT: cannot read {args.cert!r} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CertificateError(f"CERT: {args.cert!r} is not a text file (expected certificate JSON)") from None
    ok = mf.verify(text)
    msg = {True: "valid: every inequality recomputes to its recorded enclosure and outcome",
           False: "REJECTED: the certificate does not recompute (changed data, witness, bound or verdict)",
           None: "undecided: this certificate cannot be recomputed here"}[ok]
    print(msg)
    return 0 if ok else 1


def demo_problem(seed: int = 0):
    """The built-in example: a width-1 relu student (trained output, d = 3) of a width-4 teacher on 60
    Gaussian samples, refined to its best single-neuron minimum."""
    import mfsym as mf

    fam = mf.families.relu(d=3)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=4, n=60, seed=seed)
    prob = mf.Problem(fam, data)
    mu = mf.datasets.width_one_fit(prob, starts=4, seed=seed, tol=1e-12)
    return prob, mu


def _cmd_demo(args) -> int:
    import mfsym as mf

    t0 = time.perf_counter()
    print("mfsym demo: a relu network of width 1 (a, w in R^3) fitted to a width-4 relu teacher (60 samples),")
    print("            refined to a minimum of the width-1 loss. Is it stable as a measure?")
    prob, mu = demo_problem(args.seed)
    rep = mf.check(prob, mu, seed=args.seed)
    fw, mfd = rep.finite_width, rep.mean_field
    print(f"verdict: {rep.verdict.value}")
    if fw is not None:
        print(f"finite width: {fw.classification} ({'certified' if fw.certified else 'numerical'}), "
              f"lambda_min = {fw.lambda_min:.6g} (on the complement of {fw.symmetry_dim} symmetry direction)")
    if mfd is not None:
        print(f"mean-field gap: {mfd.gap:.6g} ({mfd.kind}); non-globality "
              f"{'certified' if mfd.certified_nonglobal else 'not certified'}")
        for s in mfd.escaping_sets:
            from .stability._check import _describe_set
            print(_describe_set(s))
    ok = mf.verify(rep.certificate)
    print(f"certificate: {len(rep.certificate['claims'])} claims, verify -> {ok}")
    print(f"time: {time.perf_counter() - t0:.1f} s")
    return 0 if rep.verdict.value == "unstable" else 1


def _add_derive(sub) -> None:
    p = sub.add_parser("derive", help="LaTeX derivations of a family's loss, first variation and Hessians")
    try:
        from .symbolic import _command
    except ImportError:
        p.set_defaults(func=lambda args: _unavailable("derive"))
        return
    _command.add_arguments(p)
    p.set_defaults(func=_command.run)


def _unavailable(name: str) -> int:
    print(f"mfsym: error: the {name} command is not available in this installation", file=sys.stderr)
    return 2


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mfsym`` command."""
    parser = argparse.ArgumentParser(prog="mfsym", description="Stability of wide shallow models (mean field).")
    parser.add_argument("--version", action="version", version=f"mfsym {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run check on a built-in finite-width minimum that is unstable as a measure")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("check", help="check a trained measure described by a TOML/JSON spec")
    p.add_argument("spec", help="TOML or JSON file with family, data and measure")
    p.add_argument("--json", action="store_true", help="print the full report (with certificate) as JSON")
    p.add_argument("--certificate", metavar="FILE", help="also write the certificate JSON to FILE")
    p.add_argument("--refine", action="store_true",
                   help="polish the point first, moving no block by more than max_move (spec [check], default "
                        "0.05) of its weight scale; a point that would need to move further is checked as given")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("verify", help="recompute a certificate JSON")
    p.add_argument("cert", help="certificate JSON file")
    p.set_defaults(func=_cmd_verify)
    _add_derive(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MfsymError as exc:
        return _fail(f"mfsym: error: {exc}", 2)
    except KeyboardInterrupt:
        return _fail("mfsym: interrupted", 130)
    except BrokenPipeError:  # e.g. `mfsym check spec.toml | head -2`
        sys.stderr.close()
        return 0
    except MemoryError as exc:  # a size no guard foresaw
        return _fail(f"mfsym: error: out of memory{': ' + str(exc) if str(exc) else ''}; use smaller sizes", 2)
    except RecursionError:
        return _fail("mfsym: error: the input nests too deeply to be read", 2)
    except Exception as exc:  # a bug: one line, the traceback on request
        if os.environ.get("MFSYM_TRACEBACK"):
            raise
        return _fail(f"mfsym: internal error: {type(exc).__name__}: {exc} (set MFSYM_TRACEBACK=1 to see the "
                     "traceback, and please report it)", 3)


def _fail(line: str, code: int) -> int:
    print(" ".join(line.split("\n")), file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
