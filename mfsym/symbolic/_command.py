"""The ``mfsym derive`` subcommand: write a family's derivation as LaTeX.

The derivation of a built-in family holds at generic dimension; the concrete sizes (``--d``,
``--outputs``, ``--tokens``) only name the instance (its parameter count in the document's first
paragraph), so they have defaults: ``--d 2`` for every family, and ``--outputs 1 --tokens 3`` for
attention.
"""

from __future__ import annotations

import argparse
import sys

from .._errors import MfsymError
from ..families import by_name
from ._derivation import LOSSES, derive

FAMILY_NAMES = ("relu", "sigmoid", "tanh", "erf", "attention", "deconvolution")

#: The options each family takes, in the order they are listed in error messages.
APPLIES: dict[str, tuple[str, ...]] = {
    "relu": ("d", "outputs", "bias"),
    "sigmoid": ("d", "outputs", "bias"),
    "tanh": ("d", "outputs", "bias"),
    "erf": ("d", "outputs", "bias"),
    "attention": ("d", "outputs", "tokens"),
    "deconvolution": ("d", "kernel", "width", "cutoff"),
}
#: Defaults of the sizes when the option is not given (the derivation is at generic dimension).
DEFAULTS: dict[str, dict[str, object]] = {
    "relu": {"d": 2}, "sigmoid": {"d": 2}, "tanh": {"d": 2}, "erf": {"d": 2},
    "attention": {"d": 2, "outputs": 1, "tokens": 3},
    "deconvolution": {"d": 2},
}
#: Deconvolution options that belong to one kernel only.
KERNEL_OPTION = {"width": "gaussian", "cutoff": "dirichlet"}
OPTION_NAMES = ("d", "outputs", "bias", "tokens", "kernel", "width", "cutoff")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mfsym derive FAMILY``; an option that does not apply to FAMILY is an error."""
    parser.description = ("Write the mean-field derivation of a built-in family as a LaTeX article. The formulas"
                          " hold at generic dimension; the sizes only name the instance.")
    parser.add_argument("family", choices=FAMILY_NAMES, help="built-in family")
    parser.add_argument("--d", type=int, help="input / token / spike dimension (every family; default: 2)")
    parser.add_argument("--outputs", type=int,
                        help="output dimension k; 0: fixed output weights (relu, sigmoid, tanh, erf: default 1;"
                             " attention: default 1, at least 1)")
    parser.add_argument("--bias", dest="bias", action="store_true", default=None,
                        help="relu, sigmoid, tanh, erf: train a bias (default: relu without, the others with)")
    parser.add_argument("--no-bias", dest="bias", action="store_false", help="relu, sigmoid, tanh, erf: no bias")
    parser.add_argument("--tokens", type=int, help="attention: tokens per input (default: 3)")
    parser.add_argument("--kernel", choices=("gaussian", "dirichlet"), help="deconvolution kernel (default: gaussian)")
    parser.add_argument("--width", help="deconvolution --kernel gaussian: width, e.g. 1/5 (default: 1/5)")
    parser.add_argument("--cutoff", type=int, help="deconvolution --kernel dirichlet: cutoff frequency (default: 5)")
    parser.add_argument("--loss", choices=LOSSES, default="square", help="loss (default: square)")
    parser.add_argument("--latex", metavar="FILE", help="write the LaTeX document here (default: stdout)")


def _flag(key: str, value: object) -> str:
    return "--no-bias" if key == "bias" and value is False else f"--{key}"


def _families_taking(key: str) -> str:
    return ", ".join(name for name in FAMILY_NAMES if key in APPLIES[name])


def options_for(family: str, given: dict[str, object]) -> dict[str, object]:
    """The keyword options of the family factory: ``given`` checked against :data:`APPLIES`, plus defaults.

    Raises
    ------
    ValueError
        With a one-line message naming the option, the family and the options that apply.
    """
    takes = APPLIES[family]
    for key, value in given.items():
        if key not in takes:
            listed = ", ".join(f"--{k}" for k in takes)
            raise ValueError(f"{_flag(key, value)} applies only to {_families_taking(key)}; {family} takes {listed}")
    if family == "deconvolution":
        kernel = given.get("kernel", "gaussian")
        for key, needs in KERNEL_OPTION.items():
            if key in given and needs != kernel:
                listed = ", ".join(f"--{k}" for k in takes if KERNEL_OPTION.get(k, kernel) == kernel)
                raise ValueError(f"--{key} applies only to deconvolution --kernel {needs};"
                                 f" deconvolution --kernel {kernel} takes {listed}")
    return {**DEFAULTS[family], **given}


def _error(message: str) -> int:
    print(f"mfsym: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Build the family, derive, and write the document; returns the exit status (0, or 2 on bad input)."""
    given = {key: getattr(args, key) for key in OPTION_NAMES if getattr(args, key, None) is not None}
    try:
        options = options_for(args.family, given)
    except ValueError as exc:
        return _error(str(exc))
    try:
        derivation = derive(by_name(args.family, **options), loss=args.loss)
        text = derivation.latex()
    except MfsymError as exc:
        return _error(str(exc))
    if args.latex:
        try:
            with open(args.latex, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            return _error(f"--latex: cannot write {args.latex!r} ({exc.strerror or exc})")
        print(f"wrote {args.latex}")
    else:
        sys.stdout.write(text)
    return 0
