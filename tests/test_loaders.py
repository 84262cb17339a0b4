"""Loaders of trained networks and the output bias as a trained parameter.

The fixtures in tests/fixtures/ were written by a real PyTorch model (tests/fixtures/make_torch_fixtures.py):
a tanh net ``Sequential(Linear(3, 8), Tanh(), Linear(8, 1))`` with both biases trained to stationarity in
float64, with torch's own ``0.5 * MSELoss`` value. Tests that need torch itself are skipped without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mfsym as mf
from mfsym.cli import main
from mfsym.loaders import LoaderError

FIX = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def data():
    with np.load(FIX / "tanh_data.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def state():
    with np.load(FIX / "tanh_net.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def loaded(data):
    pytest.importorskip("safetensors")
    return mf.from_state_dict(FIX / "tanh_net.safetensors", data["X"], data["Y"], activation="tanh")


def _forward(state, X):
    """The network's own forward pass in numpy, independent of mfsym's families."""
    H = np.tanh(X @ state["0.weight"].T + state["0.bias"])
    return H @ state["2.weight"].T + state["2.bias"]


# ---------------------------------------------------------------------------- loading
def test_safetensors_net_loads_in_one_call_with_torchs_loss(loaded, data, state):
    prob, mu = loaded
    assert mu.m == 8 and prob.family.blocks == {"a": (1,), "w": (3,), "b": ()}
    assert np.array_equal(mu.masses, np.ones(8)) and np.array_equal(mu.offset, state["2.bias"])
    torch_loss = float(data["torch_loss"])
    assert prob.loss(mu) == pytest.approx(torch_loss, rel=1e-10)
    f = _forward(state, data["X"])
    assert np.allclose(prob.prediction(mu), f, rtol=0, atol=1e-13)
    assert prob.loss(mu) == pytest.approx(0.5 * np.mean((f - data["Y"]) ** 2), rel=1e-12)


def test_npz_flax_and_named_layers_give_the_same_measure(loaded, data, state):
    _, ref = loaded
    variants = {
        "npz": FIX / "tanh_net.npz",
        "dict": state,
        "named": {"hidden.weight": state["0.weight"], "hidden.bias": state["0.bias"],
                  "out.weight": state["2.weight"], "out.bias": state["2.bias"]},
        "output-first": {"head.weight": state["2.weight"], "head.bias": state["2.bias"],
                         "body.weight": state["0.weight"], "body.bias": state["0.bias"]},
        "nested-sequential": {f"net.{k}": v for k, v in state.items()},
        "flax": {"params": {"Dense_0": {"kernel": state["0.weight"].T, "bias": state["0.bias"]},
                            "Dense_1": {"kernel": state["2.weight"].T, "bias": state["2.bias"]}}},
    }
    for name, st in variants.items():
        prob, mu = mf.from_state_dict(st, data["X"], data["Y"], activation="tanh")
        assert np.array_equal(mu.particles, ref.particles), name
        assert np.array_equal(mu.offset, ref.offset), name


def test_array_like_leaves_are_read_through_their_array_interface(loaded, data, state):
    class ArrayLike:  # what a JAX array offers numpy: __array__ (mfsym never imports jax for it)
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return self.a.astype(np.float32)

    import sys

    jax_before = "jax" in sys.modules  # tests/test_jax_backend.py imports jax in the same session
    _, ref = loaded
    tree = {"params": {"hidden": {"kernel": ArrayLike(state["0.weight"].T), "bias": ArrayLike(state["0.bias"])},
                       "out": {"kernel": ArrayLike(state["2.weight"].T), "bias": ArrayLike(state["2.bias"])}}}
    prob, mu = mf.from_state_dict(tree, data["X"], data["Y"], activation="tanh")
    assert np.array_equal(mu.particles, ref.particles.astype(np.float32).astype(np.float64))
    assert ("jax" in sys.modules) == jax_before  # reading the leaves imported nothing


def test_float32_weights_are_read_exactly(data):
    pytest.importorskip("safetensors")
    prob, mu = mf.from_state_dict(FIX / "tanh_net_float32.safetensors", data["X"], data["Y"], activation="tanh")
    _, ref = mf.from_state_dict(FIX / "tanh_net.npz", data["X"], data["Y"], activation="tanh")
    assert np.array_equal(mu.particles, ref.particles.astype(np.float32).astype(np.float64))
    assert mu.particles.dtype == np.float64


def test_no_biases_gives_a_family_without_b_and_no_offset(data, state):
    st = {"0.weight": state["0.weight"], "2.weight": state["2.weight"]}
    prob, mu = mf.from_state_dict(st, data["X"], data["Y"], activation="relu")
    assert prob.family.blocks == {"a": (1,), "w": (3,)} and mu.offset is None
    f = np.maximum(data["X"] @ state["0.weight"].T, 0) @ state["2.weight"].T
    assert np.allclose(prob.prediction(mu), f, atol=1e-13)


@pytest.mark.parametrize("mutate, message", [
    (lambda s: {**s, "2.weight": s["2.weight"][:, :7]}, "state['2.weight']: expected shape (k, 8)"),
    (lambda s: {**s, "0.weight": s["0.weight"][:, :2]}, "state['0.weight']: expected shape (m, 3)"),
    (lambda s: {**s, "0.bias": s["0.bias"][:5]}, "state['0.bias']: expected shape (8,)"),
    (lambda s: {**s, "2.bias": np.zeros(2)}, "state['2.bias']: expected shape (1,)"),
    (lambda s: {**s, "0.running_mean": np.zeros(8)}, "unexpected key '0.running_mean'"),
    (lambda s: {**s, "4.weight": np.zeros((1, 1))}, "expected exactly two linear layers"),
    (lambda s: {**s, "0.weight": s["0.weight"][None]}, "state['0.weight']: expected a weight matrix"),
    (lambda s: {**s, "0.weight": s["0.weight"].astype(complex)}, "state['0.weight']: expected real values"),
    (lambda s: {}, "empty mapping"),
])
def test_bad_state_dicts_give_one_line_naming_the_key(data, state, mutate, message):
    with pytest.raises(LoaderError) as err:
        mf.from_state_dict(mutate(state), data["X"], data["Y"], activation="tanh")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, mf.MfsymError)


def test_bad_paths_and_arguments(data, state, tmp_path):
    X, Y = data["X"], data["Y"]
    with pytest.raises(LoaderError, match="activation: expected one of"):
        mf.from_state_dict(state, X, Y, activation="gelu")
    with pytest.raises(LoaderError, match="no such file"):
        mf.from_state_dict(tmp_path / "missing.safetensors", X, Y, activation="tanh")
    (tmp_path / "w.npy").write_bytes(b"x")
    with pytest.raises(LoaderError, match="expected a .safetensors or .npz file"):
        mf.from_state_dict(tmp_path / "w.npy", X, Y, activation="tanh")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(LoaderError, match="not a readable .npz"):
        mf.from_state_dict(tmp_path / "bad.npz", X, Y, activation="tanh")
    if pytest.importorskip("safetensors"):
        (tmp_path / "bad.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
        with pytest.raises(LoaderError, match="not a readable safetensors"):
            mf.from_state_dict(tmp_path / "bad.safetensors", X, Y, activation="tanh")
    with pytest.raises(LoaderError, match="state: expected a mapping"):
        mf.from_state_dict([1, 2], X, Y, activation="tanh")
    with pytest.raises(LoaderError, match="square loss only"):
        mf.from_state_dict(state, X, np.sign(Y - 1), activation="tanh", loss="logistic")


def test_torch_module_and_tensors():
    torch = pytest.importorskip("torch")
    with np.load(FIX / "tanh_data.npz") as z:
        X, Y, torch_loss = z["X"], z["Y"], float(z["torch_loss"])
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    with np.load(FIX / "tanh_net.npz") as z:
        net.load_state_dict({k: torch.tensor(z[k]) for k in z.files})
    prob, mu = mf.from_torch(net, X, Y)
    assert prob.family.name == "tanh" and prob.loss(mu) == pytest.approx(torch_loss, rel=1e-10)
    with torch.no_grad():
        f = net(torch.tensor(X)).numpy()
    assert np.allclose(prob.prediction(mu), f, atol=1e-13)
    # tensors that require grad, in float32, are converted without complaint
    prob32, mu32 = mf.from_state_dict({k: v.float().requires_grad_() for k, v in net.state_dict().items()}, X, Y,
                                      activation="tanh")
    assert np.allclose(mu32.particles, mu.particles, atol=1e-6)
    relu_net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    assert mf.from_torch(relu_net, X, Y)[0].family.name == "relu"
    with pytest.raises(LoaderError, match=r"got Sequential\(Linear, GELU, Linear\)"):
        mf.from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU(), torch.nn.Linear(4, 1)), X, Y)
    with pytest.raises(LoaderError, match="module: expected nn.Sequential"):
        mf.from_torch(torch.nn.Linear(3, 1), X, Y)


# ---------------------------------------------------------------------------- the trained net checks
def test_trained_net_checks_stationary_and_its_certificate_binds_the_bias(loaded):
    prob, mu = loaded
    rep = mf.check(prob, mu)
    assert rep.verdict.value != "not-stationary", rep.summary()
    assert rep.relative_residual < 1e-10 and rep.residual < 1e-10
    assert mf.verify(rep.certificate) is True
    cert = json.loads(json.dumps(rep.certificate))
    enc = cert["problem"]["measure"]["offset"]
    assert [float.fromhex(v) for v in enc["hex"]] == list(mu.offset)
    cert["problem"]["measure"]["offset"]["hex"] = [(mu.offset[0] + 1e-3).hex()]
    assert mf.verify(cert) is False  # the digest no longer matches
    from mfsym.stability._certificates import inputs_digest

    cert["inputs_sha256"] = inputs_digest(cert)
    assert mf.verify(cert) is False  # and with a recomputed digest the claims no longer recompute


# ---------------------------------------------------------------------------- the output bias
@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(3)
    fam = mf.families.tanh(d=2, outputs=2, bias=True)
    X = rng.standard_normal((30, 2))
    Y = np.stack([np.tanh(X[:, 0] - 0.5) + 0.4 + 0.1 * rng.standard_normal(30),
                  0.5 * np.tanh(X[:, 1] + X[:, 0]) - 0.3 + 0.1 * rng.standard_normal(30)], axis=1)
    prob = mf.Problem(fam, mf.Samples(X, Y))
    mu = mf.Measure(fam, fam.random_particles(3, seed=4), np.full(3, 1 / 3), offset=[0.2, -0.1])
    return prob, mu


def test_offset_gradient_and_joint_gradient_match_finite_differences(small):
    prob, mu = small
    h = 1e-6
    for a in range(2):
        e = np.eye(2)[a] * h
        fd = (prob.loss(mu.copy(offset=mu.offset + e)) - prob.loss(mu.copy(offset=mu.offset - e))) / (2 * h)
        assert prob.offset_gradient(mu)[a] == pytest.approx(fd, rel=1e-7)
    G, P = prob.particle_gradient(mu), mu.particles
    for j, a in [(0, 0), (1, 3), (2, 4)]:
        Pp, Pm = P.copy(), P.copy()
        Pp[j, a] += h
        Pm[j, a] -= h
        fd = (prob.loss(mu.copy(particles=Pp)) - prob.loss(mu.copy(particles=Pm))) / (2 * h)
        assert G[j, a] == pytest.approx(fd, rel=1e-6, abs=1e-10)
    assert prob.residual(mu) >= np.linalg.norm(prob.offset_gradient(mu))


def test_hessian_with_a_bias_is_that_of_the_profiled_objective(small):
    prob, mu = small
    P = mu.particles

    def profiled(Q):
        nu = mu.copy(particles=Q.reshape(P.shape))
        return prob.loss(nu.copy(offset=prob.profiled_offset(nu)))

    # the profiled bias is the minimiser: its gradient vanishes there
    best = mu.copy(offset=prob.profiled_offset(mu))
    assert np.allclose(prob.offset_gradient(best), 0, atol=1e-15)
    H = prob.particle_hessian(mu)
    N, h, x = P.size, 1e-4, P.ravel()
    Hfd = np.empty((N, N))
    for a in range(N):
        for b in range(N):
            ea, eb = np.eye(N)[a] * h, np.eye(N)[b] * h
            Hfd[a, b] = (profiled(x + ea + eb) - profiled(x + ea - eb) - profiled(x - ea + eb)
                         + profiled(x - ea - eb)) / (4 * h * h)
    assert np.max(np.abs(H - Hfd)) < 1e-6 * max(1.0, np.max(np.abs(H)))
    V = np.random.default_rng(0).standard_normal(P.shape)
    assert np.allclose(prob.hvp(mu, V).ravel(), H @ V.ravel(), atol=1e-13)


def test_ball_enclosures_with_a_bias_contain_the_float_values(small):
    import flint

    from mfsym._enclose import ball_problem

    prob, mu = small
    bp = ball_problem(prob, mu.particles, mu.masses, offset=mu.offset)
    loss = bp.loss()
    assert loss.contains(flint.arb(prob.loss(mu)).mid()) or abs(float(loss.mid()) - prob.loss(mu)) < 1e-14
    gb = bp.offset_gradient()
    assert all(abs(float(g.mid()) - v) < 1e-14 for g, v in zip(gb, prob.offset_gradient(mu)))
    W, wb = prob.stationarity_weights(mu)
    rel = bp.relative_residual(W, wb)
    assert abs(float(rel.mid()) - prob.relative_residual(mu)) < 1e-13
    prof = ball_problem(prob, mu.particles, mu.masses, offset=mu.offset, profiled=True)
    Hb = prof.hessian()
    H = prob.particle_hessian(mu)
    assert max(abs(float(Hb[i, j].mid()) - H[i, j]) for i in range(H.shape[0]) for j in range(H.shape[0])) < 1e-12
    V = np.random.default_rng(1).standard_normal(mu.particles.shape)
    q = prof.quadratic_form(V)
    assert abs(float(q.mid()) - V.ravel() @ H @ V.ravel()) < 1e-12


def test_flow_moves_the_bias_and_stationary_profiles_it(small):
    prob, mu = small
    tr = mf.flow(prob, mu, steps=1, dt=0.05, adaptive=False)
    assert np.allclose(tr.measure.offset, mu.offset - 0.05 * prob.offset_gradient(mu), atol=1e-15)
    tr = mf.flow(prob, mu, steps=300, dt=0.5)
    assert np.all(np.diff(tr.losses) <= 0) and tr.measure.offset is not None
    assert tr.snapshots.shape[1:] == mu.particles.shape
    star = mf.stationary(prob, tr.measure, tol=1e-8)
    assert prob.residual(star) < 1e-8 and np.linalg.norm(prob.offset_gradient(star)) < 1e-12
    # a bias that the data want: the fit with the bias is better than the one with beta fixed at 0
    nobias = mf.stationary(prob, mf.Measure(prob.family, tr.measure.particles, mu.masses), tol=1e-8)
    assert prob.residual(nobias) < 1e-8
    assert prob.loss(star) < prob.loss(nobias)


def test_gap_includes_the_mean_residual_condition(small):
    prob, mu = small
    g = mf.meanfield.gap(prob, mu, restarts=2, samples=64)
    db = float(np.linalg.norm(prob.offset_gradient(mu)))
    assert g.extras["offset_gradient"] == pytest.approx(db) and g.value >= db


def test_bias_is_refused_where_it_is_not_supported(small):
    prob, mu = small
    logistic = mf.Problem(mf.families.tanh(d=2), mf.Samples(prob.data.X, np.sign(prob.data.Y[:, :1] - 0.3)),
                          loss="logistic")
    nu = mf.Measure(logistic.family, logistic.family.random_particles(2), offset=[0.1])
    with pytest.raises(mf.MeasureError, match="output bias .* square loss"):
        logistic.loss(nu)
    with pytest.raises(mf.MeasureError, match=r"offset: expected the output bias of shape \(2,\)"):
        mf.Measure(prob.family, mu.particles, offset=[0.1, 0.2, 0.3])


def test_measure_save_load_keeps_the_bias(small, tmp_path):
    prob, mu = small
    mu.save(tmp_path / "mu.npz")
    back = mf.Measure.load(prob.family, tmp_path / "mu.npz")
    assert np.array_equal(back.offset, mu.offset) and np.array_equal(back.particles, mu.particles)


# ---------------------------------------------------------------------------- conventions
def test_relative_residual_is_invariant_to_conventions_and_scales(loaded):
    prob, mu = loaded
    rng = np.random.default_rng(0)
    mu = mu.copy(particles=mu.particles + 1e-3 * rng.standard_normal(mu.particles.shape))  # not stationary
    X, Y, m = prob.data.X, prob.data.Y, mu.m
    B = mu.blocks
    ref = prob.relative_residual(mu)
    # masses 1/m with output weights a * m: the same network, a raw residual m times larger in w and b
    mu_m = mf.Measure.from_blocks(prob.family, masses=np.full(m, 1 / m), offset=mu.offset,
                                  a=B["a"] * m, w=B["w"], b=B["b"])
    assert prob.loss(mu_m) == pytest.approx(prob.loss(mu), rel=1e-12)
    assert prob.residual(mu_m) > 2 * prob.residual(mu)
    assert prob.relative_residual(mu_m) == pytest.approx(ref, rel=1e-9)
    # inputs x 10 (inner weights / 10), labels and outputs x 3
    t, s = 10.0, 3.0
    scaled = mf.Problem(prob.family, mf.Samples(X * t, Y * s))
    mu_s = mf.Measure.from_blocks(prob.family, masses=mu.masses, offset=mu.offset * s,
                                  a=B["a"] * s, w=B["w"] / t, b=B["b"])
    assert scaled.loss(mu_s) == pytest.approx(s**2 * prob.loss(mu), rel=1e-10)
    assert scaled.relative_residual(mu_s) == pytest.approx(ref, rel=1e-8)


def test_refine_polishes_within_max_move_and_reports_it(loaded):
    prob, mu = loaded
    rng = np.random.default_rng(1)
    near = mu.copy(particles=mu.particles * (1 + 1e-5 * rng.standard_normal(mu.particles.shape)))
    assert mf.check(prob, near, escaping=False).verdict.value == "not-stationary"
    rep = mf.check(prob, near, refine=True, escaping=False)
    r = rep.refinement
    assert r["accepted"] and 0 < r["displacement"] <= r["max_move"] and r["loss_after"] <= r["loss_before"]
    assert rep.verdict.value != "not-stationary" and "moved by" in r["message"]
    from mfsym.stability._certificates import decode

    polished = decode(rep.certificate["problem"]["measure"]["particles"], "p")
    s = [np.sqrt(np.mean(np.sum(near.particles[:, sl] ** 2, axis=1))) for sl in (slice(0, 1), slice(1, 4), slice(4, 5))]
    moved = max(np.max(np.linalg.norm(polished[:, sl] - near.particles[:, sl], axis=1)) / sB
                for sl, sB in zip((slice(0, 1), slice(1, 4), slice(4, 5)), s))
    offset = decode(rep.certificate["problem"]["measure"]["offset"], "o")
    moved = max(moved, abs(offset[0] - near.offset[0]) / np.sqrt(np.mean(prob.data.Y ** 2)))
    assert r["displacement"] == pytest.approx(moved, rel=1e-12)
    assert mf.verify(rep.certificate) is True
    far = mu.copy(particles=mu.particles * (1 + 0.3 * rng.standard_normal(mu.particles.shape)))
    rep = mf.check(prob, far, refine=True, max_move=1e-3, escaping=False)
    r = rep.refinement
    assert not r["accepted"] and r["displacement"] > 1e-3 and "would need to move further" in r["message"]
    assert rep.verdict.value == "not-stationary"
    assert np.array_equal(decode(rep.certificate["problem"]["measure"]["particles"], "p"), far.particles)
    with pytest.raises(mf.MfsymError, match="max_move"):
        mf.check(prob, mu, refine=True, max_move=0)


# ---------------------------------------------------------------------------- command line
def test_cli_check_reads_a_model_spec(data, tmp_path, capsys):
    pytest.importorskip("safetensors")
    np.savez(tmp_path / "data.npz", X=data["X"], Y=data["Y"])
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps({"model": {"safetensors": str(FIX / "tanh_net.safetensors"), "activation": "tanh"},
                                "data": {"npz": "data.npz"}, "check": {"escaping": False}}))
    assert main(["check", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "not-stationary" not in out and "verdict:" in out
    spec.write_text(json.dumps({"model": {"npz": str(FIX / "tanh_net.npz"), "activation": "tanh"},
                                "data": {"npz": "data.npz"}}))
    assert main(["check", str(spec), "--refine", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["refinement"]["accepted"] is False and "not needed" in rep["refinement"]["message"]
    for bad, msg in [({"model": {"npz": "x.npz"}}, "model.activation"),
                     ({"model": {"activation": "tanh"}}, "model must have 'safetensors' or 'npz'"),
                     ({"model": {"npz": "x.npz", "activation": "tanh"}, "family": {"name": "tanh"}},
                      "'model' replaces 'family' and 'measure'")]:
        spec.write_text(json.dumps({**bad, "data": {"npz": "data.npz"}}))
        assert main(["check", str(spec)]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err


# ---------------------------------------------------------------------------- derivations
def test_derivation_shows_the_output_bias(tmp_path, capsys):
    import shutil
    import subprocess

    plain = mf.derive(mf.families.tanh(d=2)).latex()
    text = mf.derive(mf.families.tanh(d=2), output_bias=True).latex()
    assert r"f_{\mu,\beta}(x)" in text and r"\frac{\partial L}{\partial \beta} &= \frac{1}{n} \sum_{i=1}^{n} r_i" in text
    assert r"\beta" not in plain
    with pytest.raises(mf.MfsymError, match="output_bias"):
        mf.derive(mf.families.tanh(d=2), output_bias=1)
    assert main(["derive", "tanh", "--d", "2", "--output-bias", "--latex", str(tmp_path / "b.tex")]) == 0
    assert (tmp_path / "b.tex").read_text() == text
    if shutil.which("pdflatex"):
        r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "b.tex"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout[-2000:]


def test_a_blocks_file_without_masses_is_refused_not_scaled(tmp_path):
    # the mean-field default 1/m would scale a trained network down m-fold without a word
    fam = mf.families.tanh(d=2, outputs=1)
    np.savez(tmp_path / "blocks.npz", a=np.ones((3, 1)), w=np.ones((3, 2)), b=np.zeros(3))
    with pytest.raises(mf.MeasureError, match="no 'masses' array; add one: np.ones"):
        mf.Measure.load(fam, tmp_path / "blocks.npz")
    np.savez(tmp_path / "blocks_m.npz", a=np.ones((3, 1)), w=np.ones((3, 2)), b=np.zeros(3), masses=np.ones(3))
    assert np.all(mf.Measure.load(fam, tmp_path / "blocks_m.npz").masses == 1.0)
