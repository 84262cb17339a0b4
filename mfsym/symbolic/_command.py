"""The ``mfsym derive`` subcommand: write a family's derivation as LaTeX."""

from __future__ import annotations

import argparse
import sys

from .._errors import MfsymError
from ..families import by_name
from ._derivation import LOSSES, derive

FAMILY_NAMES = ("relu", "sigmoid", "tanh", "erf", "attention", "deconvolution")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mfsym derive FAMILY``; only the options given are passed to the family."""
    parser.add_argument("family", choices=FAMILY_NAMES, help="built-in family")
    parser.add_argument("--d", type=int, help="input / token / spike dimension")
    parser.add_argument("--outputs", type=int, help="output dimension k (0: fixed output weights)")
    parser.add_argument("--bias", dest="bias", action="store_true", default=None, help="train a bias")
    parser.add_argument("--no-bias", dest="bias", action="store_false", help="no bias")
    parser.add_argument("--tokens", type=int, help="attention: tokens per input")
    parser.add_argument("--kernel", choices=("gaussian", "dirichlet"), help="deconvolution kernel")
    parser.add_argument("--width", help="deconvolution: Gaussian width (e.g. 1/5)")
    parser.add_argument("--cutoff", type=int, help="deconvolution: Dirichlet cutoff frequency")
    parser.add_argument("--loss", choices=LOSSES, default="square", help="loss (default: square)")
    parser.add_argument("--latex", metavar="FILE", help="write the LaTeX document here (default: stdout)")


def run(args: argparse.Namespace) -> int:
    """Build the family, derive, and write the document; returns the exit status."""
    options = {key: getattr(args, key) for key in ("d", "outputs", "bias", "tokens", "kernel", "width", "cutoff")
               if getattr(args, key, None) is not None}
    try:
        derivation = derive(by_name(args.family, **options), loss=args.loss)
        text = derivation.latex()
    except MfsymError as exc:
        print(f"mfsym derive: {exc}", file=sys.stderr)
        return 2
    if args.latex:
        with open(args.latex, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0
