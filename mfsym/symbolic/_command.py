"""The ``mfsym derive`` subcommand: write a family's derivation as LaTeX.

The derivation of a built-in family holds at generic dimension; the concrete sizes (``--d``,
``--outputs``, ``--tokens``) only name the instance (its parameter count in the document's first
paragraph), so they have defaults: ``--d 2`` for every family, and ``--outputs 1 --tokens 3`` for
attention.
"""

from __future__ import annotations

import argparse
import inspect
import sys

from .._errors import MfsymError
from ..families import REGISTRY, by_name
from ._derivation import LOSSES, derive

#: How each known option is parsed: (argparse keyword arguments, help); an option a new family
#: introduces is parsed as an int when its registered defaults are ints, else as a string (the factory
#: validates it).
OPTION_SPECS: dict[str, tuple[dict, str]] = {
    "d": ({"type": int}, "input / token / spike dimension"),
    "outputs": ({"type": int}, "output dimension k; 0: fixed output weights (ridge families)"),
    "tokens": ({"type": int}, "tokens per input"),
    "kernel": ({"choices": ("gaussian", "dirichlet")}, "deconvolution kernel"),
    "width": ({}, "gaussian kernel width, e.g. 1/5"),
    "cutoff": ({"type": int}, "dirichlet kernel cutoff frequency"),
}


def _tables() -> tuple[tuple[str, ...], dict, dict, dict]:
    names = tuple(REGISTRY)
    applies = {n: tuple(REGISTRY[n].options) for n in names}
    defaults = {n: dict(REGISTRY[n].defaults) for n in names}
    requires = {n: dict(REGISTRY[n].requires) for n in names}
    return names, applies, defaults, requires


#: The registered families, the options each takes (in the order of its factory's signature) and the
#: defaults of the sizes when an option is not given (the derivation is at generic dimension).
FAMILY_NAMES, APPLIES, DEFAULTS, REQUIRES = _tables()
OPTION_NAMES = tuple(dict.fromkeys(k for opts in APPLIES.values() for k in opts))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mfsym derive FAMILY``; an option that does not apply to FAMILY is an error."""
    parser.description = ("Write the mean-field derivation of a built-in family as a LaTeX article. The formulas"
                          " hold at generic dimension; the sizes only name the instance.")
    parser.add_argument("family", choices=FAMILY_NAMES, help="registered family")
    for key in OPTION_NAMES:
        if key == "bias":
            parser.add_argument("--bias", dest="bias", action="store_true", default=None,
                                help=f"{_families_taking('bias')}: train a bias (default: the family's)")
            parser.add_argument("--no-bias", dest="bias", action="store_false", help="no bias")
            continue
        defaults = {n: DEFAULTS[n][key] for n in FAMILY_NAMES if key in DEFAULTS[n]}
        ints = bool(defaults) and all(type(v) is int for v in defaults.values())
        kwargs, text = OPTION_SPECS.get(key, ({"type": int} if ints else {}, key))
        shown = f" (default: {', '.join(f'{n} {v}' for n, v in defaults.items())})" if defaults else ""
        parser.add_argument(f"--{key}", dest=key, default=None, help=f"{_families_taking(key)}: {text}{shown}",
                            **kwargs)
    parser.add_argument("--loss", choices=LOSSES, default="square", help="loss (default: square)")
    parser.add_argument("--output-bias", action="store_true",
                        help="the model has a trained output bias beta (f = integral of phi + beta)")
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
    for key, (other, needs) in REQUIRES[family].items():
        current = given.get(other, _factory_default(family, other))
        if key in given and needs != current:
            listed = ", ".join(f"--{k}" for k in takes if REQUIRES[family].get(k, (other, current))[1] == current)
            raise ValueError(f"--{key} applies only to {family} --{other} {needs};"
                             f" {family} --{other} {current} takes {listed}")
    return {**DEFAULTS[family], **given}


def _factory_default(family: str, option: str) -> object:
    param = inspect.signature(REGISTRY[family].factory).parameters.get(option)
    return None if param is None or param.default is inspect.Parameter.empty else param.default


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
        derivation = derive(by_name(args.family, **options), loss=args.loss, output_bias=args.output_bias)
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
