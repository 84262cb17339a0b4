"""The bridge from sympy to python-flint ball arithmetic.

A sympy expression is compiled once (common subexpressions shared by :func:`sympy.cse`) into a
straight-line program of ball operations; evaluating the program on balls returns balls that
contain every value of the expression over the input balls. Constants enter exactly (integers and
rationals as :class:`flint.fmpq`, sympy ``Float`` by its exact binary value, ``pi`` and ``E`` as
ball constants); non-smooth primitives are decided only when the ball decides them: ``Heaviside``,
``Max``/``Min``, ``Abs`` and ``sign`` return the honest hull when the argument straddles 0, and
``DiracDelta`` (a second derivative of relu) evaluates to an exact 0 away from 0 and raises
:class:`Undecided` otherwise -- a failed decision is never turned into a number.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

import flint
import numpy as np
import sympy as sp

from ._errors import CertificateError

DEFAULT_PRECISION = 128


class Undecided(Exception):
    """Ball arithmetic could not decide an operation (argument straddles a singularity)."""


def check_precision(bits: Any) -> int:
    """Validate a ball-arithmetic precision: an integer number of bits in [53, 4096]."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 53 <= bits <= 4096:
        raise CertificateError(f"precision: expected an integer number of bits in [53, 4096], got {bits!r}")
    return int(bits)


@contextlib.contextmanager
def precision(bits: int) -> Iterator[None]:
    """Set ``flint.ctx.prec`` to ``bits`` inside the block and restore it afterwards."""
    bits = check_precision(bits)
    old = flint.ctx.prec
    flint.ctx.prec = int(bits)
    try:
        yield
    finally:
        flint.ctx.prec = old


def ball(x: float, rad: float = 0.0) -> flint.arb:
    """The exact binary value of a float (optionally with a radius) as a ball."""
    return flint.arb(float(x)) if rad == 0.0 else flint.arb(float(x), float(rad))


def hull(a: flint.arb, b: flint.arb) -> flint.arb:
    """A ball containing both balls."""
    return a.union(b)


def _heaviside(z: flint.arb) -> flint.arb:
    if z > 0:
        return flint.arb(1)
    if z < 0:
        return flint.arb(0)
    return flint.arb("0.5", "0.5")  # contains both 0 and 1 (the value at 0 is a convention)


def _dirac(z: flint.arb) -> flint.arb:
    if z > 0 or z < 0:
        return flint.arb(0)
    raise Undecided("DiracDelta at a ball containing 0 (a relu kink inside the enclosure)")


def _max2(a: flint.arb, b: flint.arb) -> flint.arb:
    if a >= b:
        return a
    if b >= a:
        return b
    lo = a.lower() if a.lower() >= b.lower() else b.lower()
    hi = a.upper() if a.upper() >= b.upper() else b.upper()
    return lo.union(hi)


def _min2(a: flint.arb, b: flint.arb) -> flint.arb:
    return -_max2(-a, -b)


def _sign(z: flint.arb) -> flint.arb:
    if z > 0:
        return flint.arb(1)
    if z < 0:
        return flint.arb(-1)
    if z == 0:
        return flint.arb(0)
    return flint.arb(0, 1)


def _abs(z: flint.arb) -> flint.arb:
    if z >= 0:
        return z
    if z <= 0:
        return -z
    top = -z.lower() if -z.lower() >= z.upper() else z.upper()
    return flint.arb(0).union(top)


def _power(base: flint.arb, e: sp.Expr) -> flint.arb:
    if e.is_Integer:
        k = int(e)
        if k >= 0:
            return _abs(base) ** k if k % 2 == 0 else base ** k
        if base.contains(0):
            raise Undecided("negative power of a ball containing 0")
        return 1 / base ** (-k)
    if e == sp.Rational(1, 2):
        if not base >= 0:
            raise Undecided("square root of a ball that is not provably >= 0")
        return base.sqrt()
    if e == sp.Rational(-1, 2):
        if not base > 0:
            raise Undecided("inverse square root of a ball that is not provably > 0")
        return base.rsqrt()
    if not base > 0:
        raise Undecided(f"power {e} of a ball that is not provably > 0")
    return (_constant(e) * base.log()).exp()


def _constant(e: sp.Expr) -> flint.arb:
    """An exact (or exactly enclosed) sympy number as a ball; floats by their exact binary value."""
    if e.is_Integer:
        return flint.arb(flint.fmpz(int(e)))
    if e.is_Rational:
        return flint.arb(flint.fmpq(int(e.p), int(e.q)))
    if isinstance(e, sp.Float):
        sign, man, exp, _ = e._mpf_
        if man == 0:
            return flint.arb(0)
        val = flint.arb(flint.fmpz(int(man))) * flint.arb(2) ** int(exp)
        return -val if sign else val
    if e is sp.pi:
        return flint.arb.pi()
    if e is sp.E:
        return flint.arb(1).exp()
    if e.is_number:
        raise CertificateError(f"expression: the constant {e} has no exact ball form (use Rational or pi)")
    raise CertificateError(f"expression: expected a number, got {e}")


_UNARY: dict[type, Callable[[flint.arb], flint.arb]] = {
    sp.exp: lambda z: z.exp(),
    sp.log: lambda z: z.log() if z > 0 else (_ for _ in ()).throw(Undecided("log of a ball not provably > 0")),
    sp.tanh: lambda z: z.tanh(),
    sp.erf: lambda z: z.erf(),
    sp.sin: lambda z: z.sin(),
    sp.cos: lambda z: z.cos(),
    sp.tan: lambda z: z.tan(),
    sp.atan: lambda z: z.atan(),
    sp.asin: lambda z: z.asin(),
    sp.acos: lambda z: z.acos(),
    sp.sinh: lambda z: z.sinh(),
    sp.cosh: lambda z: z.cosh(),
    sp.Heaviside: _heaviside,
    sp.DiracDelta: _dirac,
    sp.Abs: _abs,
    sp.sign: _sign,
}


class Program:
    """A straight-line ball program for a list of sympy expressions in the symbols ``inputs``.

    Parameters
    ----------
    exprs : sequence of sympy expressions
        The outputs.
    inputs : sequence of sympy Symbols
        The variables, in the order :meth:`__call__` receives their balls.
    """

    def __init__(self, exprs: Sequence[sp.Expr], inputs: Sequence[sp.Symbol]):
        self.inputs = list(inputs)
        exprs = [sp.sympify(e) for e in exprs]
        free = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
        unknown = free - set(self.inputs)
        if unknown:
            raise CertificateError(f"expression: symbols {sorted(map(str, unknown))} are not among the inputs")
        replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_c"), optimizations=None)
        self.n_outputs = len(exprs)
        slots: dict[sp.Basic, int] = {s: i for i, s in enumerate(self.inputs)}
        self.code: list[tuple] = []
        self.n_slots = len(self.inputs)
        self._conds: dict[sp.Basic, tuple] = {}
        for sym, e in replacements:
            if isinstance(e, (sp.core.relational.Relational, sp.logic.boolalg.BooleanFunction)):
                self._conds[sym] = self._condition(e, slots)   # a shared Piecewise condition
                continue
            slots[sym] = self._emit(e, slots)
        self.outputs = [self._emit(e, slots) for e in reduced]

    def _new(self, op: tuple) -> int:
        self.code.append(op)
        self.n_slots += 1
        return self.n_slots - 1

    def _emit(self, e: sp.Expr, slots: dict) -> int:
        if e in slots:
            return slots[e]
        if e.is_Number or e in (sp.pi, sp.E):
            idx = self._new(("const", sp.sympify(e), {}))
        elif isinstance(e, sp.Add):
            idx = self._new(("add", [self._emit(a, slots) for a in e.args]))
        elif isinstance(e, sp.Mul):
            idx = self._new(("mul", [self._emit(a, slots) for a in e.args]))
        elif isinstance(e, sp.Pow):
            idx = self._new(("pow", self._emit(e.base, slots), e.exp)) if e.exp.is_number else \
                self._new(("powg", self._emit(e.base, slots), self._emit(e.exp, slots)))
        elif isinstance(e, (sp.Max, sp.Min)):
            idx = self._new(("max" if isinstance(e, sp.Max) else "min", [self._emit(a, slots) for a in e.args]))
        elif isinstance(e, sp.atan2):
            idx = self._new(("atan2", self._emit(e.args[0], slots), self._emit(e.args[1], slots)))
        elif isinstance(e, sp.Heaviside):
            idx = self._new(("un", _heaviside, self._emit(e.args[0], slots))) if len(e.args) == 1 else \
                self._new(("step", self._emit(e.args[0], slots), self._emit(e.args[1], slots)))
        elif isinstance(e, sp.DiracDelta):
            if len(e.args) != 1:
                idx = self._new(("dirac_k", self._emit(e.args[0], slots)))
            else:
                idx = self._new(("un", _dirac, self._emit(e.args[0], slots)))
        elif isinstance(e, sp.Piecewise):
            idx = self._new(("piecewise", [(self._emit(val, slots), self._condition(cond, slots)) for val, cond in e.args]))
        elif type(e) in _UNARY and len(e.args) == 1:
            idx = self._new(("un", _UNARY[type(e)], self._emit(e.args[0], slots)))
        else:
            raise CertificateError(f"expression: no ball-arithmetic rule for {type(e).__name__} ({e})")
        slots[e] = idx
        return idx

    def _condition(self, cond: Any, slots: dict) -> tuple:
        """A Piecewise condition as a three-valued test: ('true',), (rel, slot of lhs - rhs), ('and'|'or', [..])."""
        if cond in getattr(self, "_conds", {}):
            return self._conds[cond]
        if cond is sp.true or cond is True:
            return ("true",)
        if cond is sp.false or cond is False:
            return ("false",)
        if isinstance(cond, (sp.And, sp.Or)):
            return ("and" if isinstance(cond, sp.And) else "or", [self._condition(c, slots) for c in cond.args])
        if isinstance(cond, sp.Not):
            return ("not", self._condition(cond.args[0], slots))
        rels = {sp.StrictGreaterThan: ">", sp.GreaterThan: ">=", sp.StrictLessThan: "<", sp.LessThan: "<=",
                sp.Equality: "==", sp.Unequality: "!="}
        if type(cond) in rels:
            return (rels[type(cond)], self._emit(sp.expand(cond.lhs - cond.rhs), slots))
        raise CertificateError(f"expression: no ball-arithmetic rule for the condition {cond}")

    @staticmethod
    def _decide(test: tuple, reg: list) -> bool | None:
        """True / False when the condition holds on the whole ball / nowhere on it, else None."""
        kind = test[0]
        if kind in ("true", "false"):
            return kind == "true"
        if kind == "not":
            inner = Program._decide(test[1], reg)
            return None if inner is None else not inner
        if kind in ("and", "or"):
            parts = [Program._decide(t, reg) for t in test[1]]
            if kind == "and":
                return False if False in parts else (True if all(parts) else None)
            return True if True in parts else (False if all(v is False for v in parts) else None)
        z = reg[test[1]]
        yes = {">": z > 0, ">=": z >= 0, "<": z < 0, "<=": z <= 0, "==": z == 0, "!=": z > 0 or z < 0}[kind]
        no = {">": z <= 0, ">=": z < 0, "<": z >= 0, "<=": z > 0, "==": z > 0 or z < 0, "!=": z == 0}[kind]
        return True if yes else (False if no else None)

    def __call__(self, values: Sequence[flint.arb]) -> list[flint.arb]:
        """Evaluate on balls (one per input symbol, in order); raises :class:`Undecided`."""
        if len(values) != len(self.inputs):
            raise CertificateError(f"program: expected {len(self.inputs)} input balls, got {len(values)}")
        reg: list = list(values)
        for op in self.code:
            kind = op[0]
            if kind == "add":
                acc = reg[op[1][0]]
                for i in op[1][1:]:
                    acc = acc + reg[i]
                reg.append(acc)
            elif kind == "mul":
                acc = reg[op[1][0]]
                for i in op[1][1:]:
                    acc = acc * reg[i]
                reg.append(acc)
            elif kind == "un":
                reg.append(op[1](reg[op[2]]))
            elif kind == "pow":
                reg.append(_power(reg[op[1]], op[2]))
            elif kind == "const":
                prec = flint.ctx.prec
                if prec not in op[2]:
                    op[2][prec] = _constant(op[1])
                reg.append(op[2][prec])
            elif kind == "max" or kind == "min":
                f = _max2 if kind == "max" else _min2
                acc = reg[op[1][0]]
                for i in op[1][1:]:
                    acc = f(acc, reg[i])
                reg.append(acc)
            elif kind == "atan2":
                y, x = reg[op[1]], reg[op[2]]
                if not (x > 0 or y > 0 or y < 0):
                    raise Undecided("atan2 on a ball meeting its branch cut")
                reg.append(flint.arb.atan2(y, x))
            elif kind == "powg":
                b, e = reg[op[1]], reg[op[2]]
                if not b > 0:
                    raise Undecided("general power of a ball not provably > 0")
                reg.append((e * b.log()).exp())
            elif kind == "piecewise":
                out = None
                for slot, test in op[1]:
                    decided = self._decide(test, reg)
                    if decided is False:
                        continue
                    out = reg[slot] if out is None else out.union(reg[slot])
                    if decided is True:
                        break
                else:
                    if out is None:
                        raise Undecided("Piecewise with no branch that applies on the ball")
                if out is None:
                    raise Undecided("Piecewise with no branch that applies on the ball")
                reg.append(out)
            elif kind == "step":
                z, at0 = reg[op[1]], reg[op[2]]
                reg.append(_heaviside(z) if (z > 0 or z < 0) else flint.arb(0).union(flint.arb(1)).union(at0))
            elif kind == "dirac_k":
                z = reg[op[1]]
                if z > 0 or z < 0:
                    reg.append(flint.arb(0))
                else:
                    raise Undecided("derivative of DiracDelta at a ball containing 0")
            else:  # pragma: no cover - compile-time kinds only
                raise CertificateError(f"program: unknown instruction {kind}")
        return [reg[i] for i in self.outputs]


def compile_expr(expr: sp.Expr, inputs: Sequence[sp.Symbol]) -> Callable[[Sequence[flint.arb]], flint.arb]:
    """One expression as a function of its input balls (a one-output :class:`Program`)."""
    prog = Program([expr], inputs)
    return lambda values: prog(values)[0]


def box_balls(lo: np.ndarray, hi: np.ndarray) -> list[flint.arb]:
    """Balls enclosing the box $[lo, hi]$ (midpoint and radius rounded outward by arb)."""
    mid = 0.5 * (lo + hi)
    rad = 0.5 * (hi - lo) * (1 + 1e-12) + 1e-300
    out = []
    for m, r, a, b in zip(mid, rad, lo, hi):
        bl = flint.arb(float(m), float(r))
        if not (bl.lower() <= float(a) and bl.upper() >= float(b)):  # defensive: widen to the exact box
            bl = flint.arb(float(a)).union(flint.arb(float(b)))
        out.append(bl)
    return out


def to_interval_hex(x: flint.arb) -> list[str]:
    """Outward-rounded double endpoints ``[lo, hi]`` of a ball, written with ``float.hex``."""
    if not x.is_finite():
        return ["-inf", "inf"]
    lo = float(np.nextafter(float(x.lower()), -np.inf))
    hi = float(np.nextafter(float(x.upper()), np.inf))
    return [lo.hex(), hi.hex()]


def interval_of(x: flint.arb) -> tuple[float, float]:
    """Outward-rounded float endpoints of a ball."""
    lo, hi = to_interval_hex(x)
    return float.fromhex(lo), float.fromhex(hi)
