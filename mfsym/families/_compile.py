r"""Numeric kernels compiled from the generic-dimension calculus of an inner map.

Every formula of an :class:`~._calculus.InnerCalculus` -- $\psi_i$, $\partial\psi_i/\partial B$,
$\nabla_B(g_i^\top\psi_i)$, $\nabla^2_{BB'}(g_i^\top\psi_i)$ -- is built from *atoms* (parameter blocks,
the inputs of sample $i$, named intermediates, the weight $g_i$) by matrix products, transposes, sums,
Kronecker products, diagonal matrices and identities. Expanded, such a formula is a sum of products
of atoms whose entries are tied by shared indices: one ``einsum`` per term once every atom carries
its batch axes ($q$ over parameters, $n$ over samples). The sum over samples $\sum_i$ of a vector-Jacobian
product or a contracted Hessian is that einsum with the sample index left out of the output, so it
is fused into the contraction (BLAS where the path allows).

Intermediates are either *materialised* (scalars and vectors per sample: pre-activations, $\sigma(z)$,
softmax weights -- an array of shape ``(Q, n, ...)`` computed once per call) or *inlined* (matrices
per sample such as $D_i = \operatorname{diag}(p_i) - p_i p_i^\top$, expanded into the formulas that
use them, so no ``(Q, n, T, T)`` array is ever formed). Primitive intermediates (an activation, a
softmax, a kernel product) bring their numeric evaluation and their tangent.

Forward-mode tangents give the matrix-free products: along parameter directions $v$ the tangent of
$\psi_i$ is the Jacobian-vector product, and the tangent of $\nabla_\eta(g_i^\top\psi_i)$ (with $g$
held fixed) is the Hessian-vector product $\nabla^2_\eta(g_i^\top\psi_i)\,v$ (Pearlmutter 1994) -- both
obtained by the product rule on the same expanded terms, never through a $p \times p$ Hessian.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions.diagonal import DiagMatrix

from .._types import FloatArray

_LETTERS = "abcdefghijklmoprstuvwxyzABCDEFGHIJKLMNOPRSTUVWXYZ"   # q and n are the batch axes


class CompileError(TypeError):
    """A formula outside the compiled language (a defect of a calculus, not a user error)."""


@dataclass(frozen=True)
class Term:
    """``coef * prod(factors)``; a factor is ``(key, indices)``, indices integers shared between factors
    (contracted) or listed in ``rows`` / ``cols`` (free, in row-major order of the formula's entries)."""

    coef: float
    factors: tuple[tuple[Any, tuple[int, ...]], ...]
    rows: tuple[int, ...]
    cols: tuple[int, ...]

    def renamed(self, table: dict[int, int]) -> "Term":
        sub = lambda s: tuple(table.get(c, c) for c in s)  # noqa: E731
        return Term(self.coef, tuple((k, sub(s)) for k, s in self.factors), sub(self.rows), sub(self.cols))

    def indices(self) -> set[int]:
        return {c for _, s in self.factors for c in s} | set(self.rows) | set(self.cols)


SCALAR = Term(1.0, (), (), ())


@dataclass
class AtomSpec:
    """How one atom becomes an array.

    ``role``: "block" (parameters, batch q; its tangent is the direction), "input" (batch n), "weight"
    (the weight $g_i$, batch qn, held fixed by tangents) or "def" (an intermediate: a formula ``expr``, or a
    primitive with ``numeric(env)`` and ``tangent(dot)``, ``dot(atom)`` standing for an atom's tangent).
    ``inline`` intermediates are expanded into the formulas that use them instead of being computed.
    """

    role: str
    batch: str
    shape: tuple[Any, Any]
    expr: Any = None
    numeric: Callable | None = None
    tangent: Callable | None = None
    inline: bool = False


class Program:
    """Formulas over declared atoms, expanded into :class:`Term` lists and evaluated by einsum.

    ``specs`` maps atoms (sympy Symbols / MatrixSymbols) to :class:`AtomSpec`; ``functions`` maps undefined
    sympy functions (a placeholder such as $\\sigma'$) to ``(numeric(env, applied), derivative)`` with the
    derivative another placeholder, 0 or None (not differentiable here); ``dims`` the concrete sizes of the
    generic dimensions.
    """

    def __init__(self, specs: dict[Any, AtomSpec], functions: dict[Any, tuple[Callable, Any]], dims: dict[Any, int]):
        self.specs = dict(specs)
        self.functions = functions
        self.dims = dims
        self._next = 0
        self._base: dict[Any, Any] = {}        # tangent atom -> the atom it is the tangent of
        self._tangents: dict[Any, Any] = {}    # atom -> its tangent atom
        self._cache: dict[Any, list[Term]] = {}
        self._weighted: dict[Any, bool] = {}
        self._paths: dict[tuple, Any] = {}
        self._plans: dict[tuple, tuple] = {}

    # ------------------------------------------------------------------ expansion
    def dim(self, s: Any) -> int:
        """The concrete size of a generic dimension."""
        v = sp.sympify(sp.sympify(s).xreplace(self.dims))
        if not v.is_Integer:
            raise CompileError(f"dimension {s} has no concrete size")
        return int(v)

    def _fresh(self) -> int:
        self._next += 1
        return self._next

    def _atom(self, key: Any, shape: tuple[Any, Any]) -> list[Term]:
        r = (self._fresh(),) if shape[0] != 1 else ()
        c = (self._fresh(),) if shape[1] != 1 else ()
        return [Term(1.0, ((key, r + c),), r, c)]

    def expand(self, e: Any) -> list[Term]:
        """The terms of a formula (cached per formula)."""
        key = ("e", e)
        if key not in self._cache:
            self._cache[key] = self._expand(e)
        return self._cache[key]

    def _expand(self, e: Any) -> list[Term]:
        e = sp.sympify(e)
        if isinstance(e, sp.ZeroMatrix):
            return []
        if e in self.specs:
            spec = self.specs[e]
            return self._expand(spec.expr) if spec.inline else self._atom(e, spec.shape)
        if isinstance(e, AppliedUndef):
            if e.func not in self.functions:
                raise CompileError(f"no numeric value for {e}")
            return self._atom(e, (1, 1))
        if not isinstance(e, sp.MatrixExpr) and not e.free_symbols and not e.atoms(AppliedUndef):
            val = complex(e)
            if val.imag:
                raise CompileError(f"complex constant {e}")
            return [] if val.real == 0 else [Term(val.real, (), (), ())]
        if isinstance(e, sp.Identity):       # a constant atom (np.eye at the concrete size)
            if e not in self.specs:
                size = self.dim(e.shape[0])
                self.specs[e] = AtomSpec("const", "", (e.shape[0], e.shape[0]), numeric=lambda env: np.eye(size))
            return self._atom(e, self.specs[e].shape)
        if isinstance(e, DiagMatrix):
            out = []
            for t in self._expand(e.args[0]):
                if t.cols or len(t.rows) != 1:
                    raise CompileError("diag of a non-vector")
                out.append(Term(t.coef, t.factors, t.rows, t.rows))
            return out
        if isinstance(e, sp.Trace):
            out = []
            for t in self._expand(e.args[0]):
                if len(t.rows) != len(t.cols):
                    raise CompileError("trace of a non-square formula")
                t2 = t.renamed(dict(zip(t.cols, t.rows)))
                out.append(Term(t2.coef, t2.factors, (), ()))
            return out
        if isinstance(e, sp.Transpose):
            return [Term(t.coef, t.factors, t.cols, t.rows) for t in self._expand(e.arg)]
        if isinstance(e, (sp.Add, sp.MatAdd)):
            return self._sum([self._expand(a) for a in e.args])
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            acc = [SCALAR]
            for _ in range(int(e.exp)):
                acc = self._product(acc, self._expand(e.base), contract=True)
            return acc
        if isinstance(e, (sp.Mul, sp.MatMul, sp.KroneckerProduct)):
            acc = [SCALAR]
            for a in e.args:
                acc = self._product(acc, self._expand(a), contract=not isinstance(e, sp.KroneckerProduct))
            return acc
        raise CompileError(f"cannot compile {type(e).__name__}: {e}")

    def _fresh_copy(self, t: Term, free: dict[int, int] | None = None) -> Term:
        """``t`` with its free indices renamed by ``free`` and every other index fresh."""
        free = free or {}
        return t.renamed({c: free[c] if c in free else self._fresh() for c in t.indices()})

    def _sum(self, parts: list[list[Term]]) -> list[Term]:
        out: list[Term] = []
        for terms in parts:
            for t in terms:
                if not out:
                    out.append(t)
                    continue
                ref = out[0]
                if len(t.rows) != len(ref.rows) or len(t.cols) != len(ref.cols):
                    raise CompileError("sum of formulas of different index structures")
                out.append(self._fresh_copy(t, dict(zip(t.rows + t.cols, ref.rows + ref.cols))))
        return out

    def _product(self, left: list[Term], right: list[Term], contract: bool) -> list[Term]:
        out = []
        for a in left:
            for b in right:
                b = self._fresh_copy(b)
                if not contract:
                    rows, cols = a.rows + b.rows, a.cols + b.cols
                elif not (a.rows or a.cols) or not (b.rows or b.cols):   # a scalar factor
                    rows, cols = a.rows + b.rows, a.cols + b.cols
                elif not a.cols and not b.rows:                            # column times row: outer product
                    rows, cols = a.rows, b.cols
                else:
                    if len(a.cols) != len(b.rows):
                        raise CompileError("matrix product of incompatible index structures")
                    b = b.renamed(dict(zip(b.rows, a.cols)))
                    rows, cols = a.rows, b.cols
                out.append(Term(a.coef * b.coef, a.factors + b.factors, rows, cols))
        return out

    # ------------------------------------------------------------------ tangents
    def tangent(self, e: Any) -> list[Term]:
        """Forward-mode tangent of a formula along the blocks' directions (product rule over its factors;
        inputs and the weight are held fixed)."""
        key = ("t", e)
        if key not in self._cache:
            self._cache[key] = self._tangent_terms(self.expand(e))
        return self._cache[key]

    def _tangent_terms(self, terms: list[Term]) -> list[Term]:
        out = []
        for t in terms:
            for k, (key, subs) in enumerate(t.factors):
                rest = t.factors[:k] + t.factors[k + 1:]
                for d in self._factor_tangent(key, subs):
                    out.append(Term(t.coef * d.coef, rest + d.factors, t.rows, t.cols))
        return out

    def _factor_tangent(self, key: Any, subs: tuple[int, ...]) -> list[Term]:
        if isinstance(key, AppliedUndef):
            deriv = self.functions[key.func][1]
            if deriv is None:
                raise CompileError(f"no derivative known for {key.func}")
            if deriv == 0:
                return []
            (arg,) = key.args
            return [Term(1.0, ((deriv(arg), subs), (self.tangent_atom(arg), subs)), (), ())]
        role = self.specs[key].role
        if role == "tangent":
            raise CompileError("second tangents are not compiled")
        if role in ("input", "weight", "const"):
            return []
        return [Term(1.0, ((self.tangent_atom(key), subs),), (), ())]

    def tangent_atom(self, atom: Any) -> Any:
        """The atom standing for the tangent of ``atom`` (for a block: where its direction is given)."""
        if atom not in self._tangents:
            spec = self.specs[atom]
            name = f"d[{atom.name}]"
            tan = sp.MatrixSymbol(name, *spec.shape) if isinstance(atom, sp.MatrixSymbol) else sp.Symbol(name, real=True)
            self._tangents[atom], self._base[tan] = tan, atom
            self.specs[tan] = AtomSpec("tangent", spec.batch, spec.shape)
        return self._tangents[atom]

    def _tangent_formula(self, atom: Any) -> list[Term]:
        """The terms of the tangent of a computed intermediate."""
        key = ("dt", atom)
        if key not in self._cache:
            spec = self.specs[atom]
            if spec.expr is not None:
                terms = self._tangent_terms(self.expand(spec.expr))
            elif spec.tangent is not None:
                terms = self.expand(spec.tangent(self.tangent_atom))
            else:
                raise CompileError(f"no tangent for {atom}")
            self._cache[key] = terms
        return self._cache[key]

    # ------------------------------------------------------------------ dependency on the weight
    def weighted(self, key: Any) -> bool:
        """Whether an atom's value depends on the weight $g$ (then it is recomputed per weight)."""
        if key not in self._weighted:
            self._weighted[key] = False       # no cycles among definitions
            self._weighted[key] = self._depends(key)
        return self._weighted[key]

    def _depends(self, key: Any) -> bool:
        if isinstance(key, AppliedUndef):
            return self.weighted(key.args[0])
        spec = self.specs[key]
        if spec.role == "tangent":
            base = self._base[key]
            if self.specs[base].role == "block":
                return False
            return self.weighted(base) or any(self.weighted(k) for t in self._tangent_formula(base) for k, _ in t.factors)
        if spec.role == "weight":
            return True
        if spec.expr is None:
            return False
        return any(self.weighted(k) for t in self.expand(spec.expr) for k, _ in t.factors)

    # ------------------------------------------------------------------ evaluation
    def build(self, key: Any, env: "Env") -> FloatArray:
        if isinstance(key, AppliedUndef):
            return self.functions[key.func][0](env, key)
        spec = self.specs[key]
        if spec.role == "tangent":
            base = self._base[key]
            if self.specs[base].role == "block":
                raise KeyError(f"no direction given for {base}")
            return self.evaluate(self._tangent_formula(base), env, spec.batch)
        if spec.numeric is not None:
            return spec.numeric(env)
        if spec.expr is not None:
            return self.evaluate(self.expand(spec.expr), env, spec.batch)
        raise KeyError(f"no value given for {key}")

    @staticmethod
    def _result_size(subs: list[str], target: str, ops: list[FloatArray]) -> int:
        sizes = {c: n for sg, a in zip(subs, ops) for c, n in zip(sg, a.shape)}
        return int(np.prod([sizes[c] for c in target], dtype=float))

    def _hadamard(self, ops: list, subs: list[str], idx: list[int], env: "Env") -> tuple[list, list[str]]:
        """Multiply the per-(parameter, sample) scalar factors ``idx`` of a term first, in a fixed order and
        remembered per evaluation, so that the terms and blocks sharing them compute the product once."""
        acc = ops[idx[0]]
        for j in idx[1:]:
            key = ("*", id(acc), id(ops[j]))
            hit = env.memo.get(key)
            if hit is None:
                hit = env.memo[key] = (acc, ops[j], acc * ops[j])
            acc = hit[2]
        rest = [j for j in range(len(ops)) if j not in idx]
        return [acc] + [ops[j] for j in rest], ["qn"] + [subs[j] for j in rest]

    def _contract(self, subs: list[str], target: str, ops: list[FloatArray], tid: int, env: "Env") -> FloatArray:
        """``einsum(subs -> target)`` pairwise along the greedy path: BLAS ``tensordot`` for a pair whose
        shared indices are all summed, ``einsum`` for a pair with a shared free (batch) index; a lone
        operand already in the target order is returned as it is (a view)."""
        if len(ops) == 1:
            return (ops[0], False) if subs[0] == target else (np.einsum(subs[0] + "->" + target, ops[0]), True)
        key = (tid, tuple(subs), target, tuple(a.shape for a in ops))
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = np.einsum_path(",".join(subs) + "->" + target, *ops, optimize="greedy")[0][1:]
        subs, ops = list(subs), list(ops)
        for pair in path:
            if len(pair) == 1:
                continue
            if len(pair) > 2:      # a group of Hadamard factors: one einsum
                group = [(subs.pop(i), ops.pop(i)) for i in sorted(pair, reverse=True)]
                keep = set(target).union(*subs)
                sr = "".join(dict.fromkeys(c for sg, _ in group for c in sg if c in keep))
                subs.append(sr)
                ops.append(np.einsum(",".join(sg for sg, _ in group) + "->" + sr, *[a for _, a in group]))
                continue
            i, j = sorted(pair, reverse=True)
            sb, B = subs.pop(i), ops.pop(i)
            sa, A = subs.pop(j), ops.pop(j)
            keep = set(target).union(*subs)
            canon: dict[str, str] = {}
            for c in sa + sb:
                canon.setdefault(c, _LETTERS[len(canon)])
            mkey = (id(A), id(B), "".join(canon[c] for c in sa), "".join(canon[c] for c in sb),
                    "".join(canon[c] for c in sa + sb if c in keep))
            hit = env.memo.get(mkey)
            if hit is not None:     # the same pair contracted by an earlier term of this evaluation
                sr = "".join(c for c in dict.fromkeys(sa + sb) if c in keep) if hit[3] is None else \
                    "".join({v: k for k, v in canon.items()}[c] for c in hit[3])
                subs.append(sr)
                ops.append(hit[2])
                continue
            shared = [c for c in sa if c in sb]
            summed = [c for c in shared if c not in keep]
            if len(shared) == len(summed) and summed:
                R = np.tensordot(A, B, axes=([sa.index(c) for c in summed], [sb.index(c) for c in summed]))
                sr = "".join(c for c in sa if c not in summed) + "".join(c for c in sb if c not in summed)
                drop = "".join(c for c in sr if c not in keep)
                if drop:
                    out = "".join(c for c in sr if c in keep)
                    R, sr = np.einsum(sr + "->" + out, R), out
            else:
                sr = "".join(dict.fromkeys(c for c in sa + sb if c in keep))
                R = np.einsum(sa + "," + sb + "->" + sr, A, B)
            if subs:     # the last product is the term itself: not shared, and owned by the caller
                env.memo[mkey] = (A, B, R, "".join(canon[c] for c in sr))
            subs.append(sr)
            ops.append(R)
        (s0,), (R,) = subs, ops
        owned = not any(R is h[2] for h in env.memo.values())
        if s0 == target:
            return R, owned
        if sorted(s0) == sorted(target):
            return R.transpose([s0.index(c) for c in target]), owned
        return np.einsum(s0 + "->" + target, R), True

    def batch_of(self, key: Any) -> str:
        if isinstance(key, AppliedUndef):
            return self.batch_of(key.args[0])
        return self.specs[key].batch

    def _plan(self, t: Term, batch: str) -> tuple:
        """The einsum of one term, worked out once: factor keys, subscripts, target, the identities a
        free diagonal needs, the order of its per-(parameter, sample) scalar factors, its coefficient."""
        key = (id(t), batch)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        letters: dict[int, str] = {}
        letter = lambda c: letters.setdefault(c, _LETTERS[len(letters)])  # noqa: E731
        keys, subs, where = [], [], {}
        for j, (k, sg) in enumerate(t.factors):
            kb = self.batch_of(k)
            keys.append(k)
            subs.append(kb + "".join(letter(c) for c in sg))
            for a, c in enumerate(sg):
                where.setdefault(c, (j, len(kb) + a))
        target, eyes = [], []
        for c in t.rows + t.cols:
            if letter(c) in target:            # a diagonal left free: multiply by the identity
                new = letter(self._fresh())
                eyes.append((where[c], letter(c) + new))
                target.append(new)
            else:
                target.append(letter(c))
        present = set("".join(subs)) | {ch for _, sg in eyes for ch in sg}
        ob = "".join(ch for ch in batch if ch in present)
        summed_n = "n" not in batch and "n" not in present
        order = sorted((j for j, sg in enumerate(subs) if sg == "qn"), key=lambda j: repr(keys[j]))
        plan = (t, keys, subs, eyes, ob, ob + "".join(target), summed_n, order)
        self._plans[key] = plan
        return plan

    def evaluate(self, terms: list[Term], env: "Env", batch: str) -> FloatArray | None:
        """$\\sum_t c_t\\,\\mathrm{einsum}(t)$ with axes ``batch`` (a subset of "qn") then the free indices;
        the sample axis, when absent from ``batch``, is summed (a term without it counts n times).
        None for an empty formula (zero)."""
        out = None
        for term in terms:
            t, keys, subs, eyes, ob, target, summed_n, order = self._plan(term, batch)
            ops = [env[k] for k in keys]
            if any(a is None for a in ops):      # a factor that vanishes identically
                continue
            subs = list(subs)
            for (j, axis), sg in eyes:
                ops.append(np.eye(ops[j].shape[axis]))
                subs.append(sg)
            coef = t.coef * (env.n if summed_n else 1)
            owned = True
            if not ops:
                val = np.full((), coef)
            else:
                if len(order) > 1:
                    ops, subs = self._hadamard(ops, subs, order, env)
                late = coef != 1.0 and self._result_size(subs, target, ops) <= min(a.size for a in ops)
                if coef != 1.0 and not late:      # scale the smallest operand rather than a large result
                    j = int(np.argmin([a.size for a in ops]))
                    ops[j] = coef * ops[j]
                val, owned = self._contract(subs, target, ops, id(t), env)
                if late:
                    val, owned = coef * val, True
            if len(ob) != len(batch):
                shape = tuple(val.shape[ob.index(ch)] if ch in ob else 1 for ch in batch)
                val = val.reshape(shape + val.shape[len(ob):])
            if out is None:
                out, mine = val, owned
            elif mine and np.broadcast_shapes(out.shape, val.shape) == out.shape:
                out += val
            else:
                out, mine = out + val, True
        if out is None:
            return None
        full = tuple({"q": env.Q, "n": env.n}[ch] for ch in batch)
        if out.shape[:len(batch)] != full:
            out = np.broadcast_to(out, full + out.shape[len(batch):]).copy()
        return out


class Env:
    """The arrays of one evaluation: given atoms (inputs, blocks, directions, the weight) and the
    intermediates computed on demand, cached; :meth:`fork` shares everything that does not depend on
    the weight with a copy for another weight."""

    def __init__(self, program: Program, values: dict, Q: int, n: int, parent: "Env | None" = None):
        self.program, self.values, self.Q, self.n, self.parent = program, dict(values), Q, n, parent
        self.memo: dict = {}      # pairwise products of this evaluation (with their operands, kept alive)

    @property
    def root(self) -> "Env":
        """The evaluation this one was forked from (where weight-free values are kept)."""
        return self if self.parent is None else self.parent.root

    def fork(self, values: dict) -> "Env":
        return Env(self.program, values, self.Q, self.n, self)

    def __getitem__(self, key):
        if key in self.values:
            return self.values[key]
        owner = self
        if not self.program.weighted(key):
            while owner.parent is not None:
                owner = owner.parent
            if key in owner.values:
                return owner.values[key]
        val = self.program.build(key, self)
        owner.values[key] = val
        return val
