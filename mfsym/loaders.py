"""Bring your own trained network: two-layer weights from PyTorch, JAX/flax, safetensors or npz files.

A trained ``nn.Sequential(Linear(d, m), act, Linear(m, k))`` computes
$f(x) = W_2\\,\\sigma(W_1 x + b_1) + b_2$. As a measure of the family $a\\,\\sigma(w^\\top x + b)$ it is
$\\sum_j c_j \\varphi(\\theta_j; x) + \\beta$ with **masses** $c_j = 1$, $a_j = W_2[:, j]$, $w_j = W_1[j]$,
$b_j = b_1[j]$ and the output bias $\\beta = b_2$, a trained parameter of the problem (``Measure.offset``).
The loss is mfsym's $\\frac1{2n}\\sum_i|f(x_i) - y_i|^2$, which for scalar outputs is PyTorch's
``0.5 * nn.MSELoss()`` (for $k$ outputs ``MSELoss`` also averages over the $k$ columns: mfsym's loss is $k$
times it). torch, JAX and safetensors are imported only when the object (or file) given needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import DataError, MfsymError
from ._validate import as_float_array
from .data import Samples
from .families import by_name
from .measure import Measure
from .problem import Problem

__all__ = ["from_state_dict", "from_torch"]

#: the activations a loaded network may use: registered families $a\,\sigma(w^\top x + b)$ of the same name
ACTIVATIONS = ("relu", "sigmoid", "tanh")


class LoaderError(MfsymError, ValueError):
    """A state dict, module or weights file does not describe a supported two-layer network."""


# ---------------------------------------------------------------------------- arrays of any framework
def _to_numpy(value: Any, key: str) -> np.ndarray:
    """A float64 copy of a numpy, torch or JAX array, without importing torch or JAX."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor (also bfloat16, on any device)
        value = value.detach().cpu()
        if hasattr(value, "double"):
            value = value.double()
        value = value.numpy()
    return as_float_array(value, f"state[{key!r}]", LoaderError)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise LoaderError(f"state: no such file {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            from safetensors import SafetensorError
            from safetensors.numpy import load_file
        except ImportError:
            raise LoaderError("state: reading .safetensors needs the safetensors package "
                              "(pip install mfsym[io])") from None
        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError, ValueError, TypeError) as exc:
            raise LoaderError(f"state: {str(path)!r} is not a readable safetensors file ({exc})") from None
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise LoaderError(f"state: {str(path)!r} is not a readable .npz file ({exc})") from None
    raise LoaderError(f"state: expected a .safetensors or .npz file, got {str(path)!r}")


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested mappings (a flax/JAX params pytree) as ``{"a.b.kernel": array}``."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out


# ---------------------------------------------------------------------------- layers
def _layers(state: dict[str, Any]) -> list[dict]:
    """Group ``name.weight`` / ``name.bias`` (PyTorch) or ``name.kernel`` / ``name.bias`` (flax) into layers
    ``{"name", "weight" (out, in), "bias" (out,) or None}``, in the order of the state."""
    layers: dict[str, dict] = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf not in ("weight", "kernel", "bias"):
            raise LoaderError(f"state: unexpected key {key!r} (expected '<layer>.weight' and '<layer>.bias' as in a "
                              "PyTorch state_dict, or '<layer>.kernel'/'<layer>.bias' as in flax)")
        layer = layers.setdefault(prefix, {"name": prefix, "weight": None, "bias": None, "kernel": False})
        arr = _to_numpy(value, key)
        if leaf == "bias":
            if arr.ndim != 1:
                raise LoaderError(f"state[{key!r}]: expected a bias vector (out,), got shape {arr.shape}")
            layer["bias"] = arr
            continue
        if arr.ndim != 2:
            raise LoaderError(f"state[{key!r}]: expected a weight matrix of 2 dimensions, got shape {arr.shape}")
        if layer["weight"] is not None:
            raise LoaderError(f"state: layer {prefix!r} has both a 'weight' and a 'kernel'")
        layer["weight"] = arr.T if leaf == "kernel" else arr  # flax's kernel is (in, out)
        layer["kernel"] = leaf == "kernel"
    for layer in layers.values():
        if layer["weight"] is None:
            raise LoaderError(f"state: layer {layer['name']!r} has a bias but no weight")
    return list(layers.values())


def _key(layer: dict, leaf: str) -> str:
    if leaf == "weight" and layer["kernel"]:
        leaf = "kernel"
    return f"{layer['name']}.{leaf}" if layer["name"] else leaf


def _order(layers: list[dict], d: int) -> tuple[dict, dict]:
    """The hidden and output layer: the one that takes the ``d`` inputs first, then the one that takes its units."""
    if len(layers) != 2:
        names = [lay["name"] for lay in layers]
        raise LoaderError(f"state: expected exactly two linear layers (hidden, output), got {len(layers)}: {names}")
    first, second = layers
    def in_dim(lay):
        return lay["weight"].shape[1]

    def out_dim(lay):
        return lay["weight"].shape[0]
    if in_dim(first) == d and in_dim(second) == out_dim(first):
        return first, second
    if in_dim(second) == d and in_dim(first) == out_dim(second):
        return second, first
    hidden = first if in_dim(first) == d else second if in_dim(second) == d else first
    other = second if hidden is first else first
    if in_dim(hidden) != d:
        raise LoaderError(f"state[{_key(hidden, 'weight')!r}]: expected shape (m, {d}) (the inputs X have d = {d}), "
                          f"got {hidden['weight'].shape}" + (" (a flax kernel, transposed)" if hidden["kernel"] else ""))
    m = out_dim(hidden)
    raise LoaderError(f"state[{_key(other, 'weight')!r}]: expected shape (k, {m}) (the output layer takes the {m} "
                      f"hidden units), got {other['weight'].shape}" + (" (a flax kernel, transposed)" if other["kernel"]
                                                                          else ""))


def from_state_dict(state: Any, X: Any, Y: Any, activation: str | None = None, loss: str = "square", *,
                    reg: float = 0.0) -> tuple[Problem, Measure]:
    """A problem and its measure from the weights of a trained two-layer network.

    $f(x) = W_2\\,\\sigma(W_1 x + b_1) + b_2$ becomes the family $a\\,\\sigma(w^\\top x + b)$ of ``activation`` with
    masses $c_j = 1$, blocks $a = W_2^\\top$ ``(m, k)``, $w = W_1$ ``(m, d)``, $b = b_1$ ``(m,)`` (``bias=False``
    when the hidden layer has none) and output bias $\\beta = b_2$ (``Measure.offset``; none when the output
    layer has none).

    Parameters
    ----------
    state : mapping, str or Path
        A PyTorch-style state dict (``{"0.weight": (m, d), "0.bias": (m,), "2.weight": (k, m), "2.bias": (k,)}``,
        any layer names) of numpy, torch or JAX arrays; a flax/JAX params pytree (nested mappings with
        ``kernel`` ``(in, out)`` and ``bias``; a top-level ``params`` is unwrapped); or the path of a
        ``.safetensors`` (needs ``pip install mfsym[io]``) or ``.npz`` file holding such arrays.
    X : (n, d) array
    Y : (n, k) or (n,) array
    activation : {"relu", "sigmoid", "tanh"}
        The hidden activation (state dicts do not record it).
    loss : {"square", "logistic"}
        The loss of :class:`~mfsym.Problem` (an output bias needs the square loss).
    reg : float
        Weight decay of the problem.

    Returns
    -------
    (Problem, Measure)
    """
    if activation not in ACTIVATIONS:
        raise LoaderError(f"activation: expected one of {list(ACTIVATIONS)}, got {activation!r}")
    if isinstance(state, (str, Path)):
        state = _read_file(Path(state))
    if not isinstance(state, Mapping):
        raise LoaderError(f"state: expected a mapping of layer names to arrays, a flax params tree, or a "
                          f".safetensors/.npz path, got {type(state).__name__}")
    if set(state) == {"params"} and isinstance(state["params"], Mapping):
        state = state["params"]
    flat = _flatten(state)
    if not flat:
        raise LoaderError("state: expected the arrays of two linear layers, got an empty mapping")
    data = Samples(X, Y)
    if data.X.ndim != 2:
        raise DataError(f"X: expected shape (n, d) for a two-layer network, got {data.X.shape}")
    d, k = data.X.shape[1], data.Y.shape[1]
    hidden, output = _order(_layers(flat), d)
    W1, b1, W2, b2 = hidden["weight"], hidden["bias"], output["weight"], output["bias"]
    m = W1.shape[0]
    if b1 is not None and b1.shape != (m,):
        raise LoaderError(f"state[{_key(hidden, 'bias')!r}]: expected shape ({m},), got {b1.shape}")
    if W2.shape[0] != k:
        raise LoaderError(f"state[{_key(output, 'weight')!r}]: expected shape ({k}, {m}) (Y has k = {k} column(s)), "
                          f"got {W2.shape}")
    if b2 is not None and b2.shape != (k,):
        raise LoaderError(f"state[{_key(output, 'bias')!r}]: expected shape ({k},), got {b2.shape}")
    if b2 is not None and loss != "square":
        raise LoaderError(f"loss: the output bias {_key(output, 'bias')!r} is supported with the square loss only, "
                          f"got loss={loss!r}")
    fam = by_name(activation, d=d, outputs=k, bias=b1 is not None)
    blocks = {"a": W2.T, "w": W1}
    if b1 is not None:
        blocks["b"] = b1
    mu = Measure.from_blocks(fam, masses=np.ones(m), offset=b2, **blocks)
    return Problem(fam, data, loss=loss, reg=reg), mu


def from_torch(module: Any, X: Any, Y: Any, loss: str = "square", *, reg: float = 0.0) -> tuple[Problem, Measure]:
    """A problem and its measure from a PyTorch ``nn.Sequential(Linear(d, m), act, Linear(m, k))``.

    The activation (``nn.ReLU``, ``nn.Sigmoid`` or ``nn.Tanh``) is read from the module, the weights from its
    ``state_dict()``; both biases are kept (see :func:`from_state_dict`). Needs torch (the module is one).
    """
    try:
        import torch.nn as nn
    except ImportError:
        raise LoaderError("module: from_torch needs PyTorch (pip install torch)") from None
    kinds = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}
    layers = list(module) if isinstance(module, nn.Sequential) else None
    shape = "nn.Sequential(Linear, ReLU|Sigmoid|Tanh, Linear)"
    if layers is None:
        raise LoaderError(f"module: expected {shape}, got {type(module).__name__}")
    got = ", ".join(type(layer).__name__ for layer in layers)
    if len(layers) != 3 or not isinstance(layers[0], nn.Linear) or not isinstance(layers[2], nn.Linear) \
            or type(layers[1]) not in kinds:
        raise LoaderError(f"module: expected {shape}, got Sequential({got})")
    activation = kinds[type(layers[1])]
    return from_state_dict(module.state_dict(), X, Y, activation=activation, loss=loss, reg=reg)
