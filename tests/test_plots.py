"""Figures of mfsym.plot: what is drawn equals an independent computation of the quantity; PNGs are written.

Each figure was also looked at as a picture while it was written (loss/velocity and paths, escaping mass,
the first-variation slice through the witness, the spectrum with its symmetry direction).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so
from scipy.special import expit

import mfsym as mf
from mfsym.cli import demo_problem

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def demo():
    """The demo's model: relu, d = 3 (inner dimension 4 on the sphere), width 1, with its gap."""
    prob, mu = demo_problem(0)
    return prob, mu, mf.meanfield.gap(prob, mu, seed=0)


@pytest.fixture(scope="module")
def sigmoid():
    """A stationary sigmoid measure with an escaping set (the docs' example)."""
    fam = mf.families.sigmoid(d=1, outputs=2, bias=True)
    X = np.linspace(-2, 2, 9)[:, None]
    Y = np.stack([np.sin(2 * X[:, 0]), np.cos(3 * X[:, 0])], 1)
    prob = mf.Problem(fam, mf.Samples(X, Y))
    c = np.full(2, 0.5)

    def F(x):
        mu = mf.Measure(fam, x.reshape(2, -1), c)
        return prob.loss(mu), prob.particle_gradient(mu).ravel()
    x = so.minimize(F, fam.random_particles(2, seed=1).ravel(), jac=True, method="L-BFGS-B",
                    options={"gtol": 1e-13, "ftol": 1e-16, "maxiter": 5000}).x
    return prob, mf.Measure(fam, x.reshape(2, -1), c)


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    return data


def test_trajectory_figure_draws_losses_and_paths(tmp_path):
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=40, seed=1)
    prob = mf.Problem(fam, data)
    tr = mf.flow(prob, mf.Measure(fam, fam.random_particles(5, seed=2), np.full(5, 0.2)), steps=60, dt=0.5,
                 record_every=5)
    fig = mf.plot.plot_trajectory(tr, path=tmp_path / "traj.png")
    _png(tmp_path / "traj.png")
    ax_l, ax_p = fig.axes[0], fig.axes[1]
    np.testing.assert_array_equal(ax_l.lines[0].get_ydata(), tr.losses)
    # the losses drawn are the losses of the snapshots' measures (an independent evaluation)
    snap = tr.snapshot_steps[-1]
    assert prob.loss(mf.Measure(fam, tr.snapshots[-1], tr.measure.masses)) == pytest.approx(tr.losses[snap], rel=1e-12)
    paths = [ln for ln in ax_p.lines if len(ln.get_xdata()) == len(tr.snapshot_steps)]
    assert len(paths) == 5
    np.testing.assert_array_equal(paths[0].get_xdata(), tr.snapshots[:, 0, 1])  # w[0]: first inner column
    assert ax_p.get_xlabel() == "w[0]" and ax_p.get_ylabel() == "w[1]"
    with pytest.raises(mf.MfsymError, match="columns: expected two distinct"):
        mf.plot.plot_trajectory(tr, columns=(1, 1))
    with pytest.raises(mf.MfsymError, match="traj: expected"):
        mf.plot.plot_trajectory(tr.losses)


def test_escape_figure_draws_mass_in_set(sigmoid, tmp_path):
    prob, mu = sigmoid
    sets = mf.meanfield.escaping_sets(prob, mu, seed=0, certify=False)
    sim = mf.meanfield.simulate_escape(prob, mu, sets, steps=60, dt=0.2, light=16, record_every=6)
    fig = mf.plot.plot_escape(sim, path=tmp_path / "escape.png")
    _png(tmp_path / "escape.png")
    ax_m, ax_n = fig.axes
    np.testing.assert_array_equal(ax_m.lines[0].get_ydata(), sim.mass_in_set[0])
    # independent: count the light particles of the last record inside the set by its membership test
    light = sim.light_trajectories[-1]
    inside = sets[0].contains(light) & (np.sign(sim.measure.masses[mu.m:]) == -sets[0].sign)
    assert ax_m.lines[0].get_ydata()[-1] == pytest.approx(inside.mean())
    assert ax_m.lines[0].get_ydata()[-1] > 0
    np.testing.assert_array_equal(ax_n.lines[0].get_ydata(), sim.norm_in_set[0])


def test_first_variation_slice_of_the_demo_model(demo, tmp_path):
    """The demo's model (relu, p = 4 on the sphere) cannot be drawn by plot_landscape; the slice can."""
    prob, mu, g = demo
    with pytest.raises(mf.MfsymError, match="p = 2 or 3.*plot_first_variation"):
        mf.meanfield.plot_landscape(prob, mu)
    fig = mf.plot.plot_first_variation(prob, mu, gap=g, resolution=41, path=tmp_path / "slice.png")
    _png(tmp_path / "slice.png")
    ax = fig.axes[0]
    Z = ax.images[0].get_array()
    # centre pixel = J at the (normalised) witness, computed directly; it is the slice's minimum = -gap
    u = g.witness / np.linalg.norm(g.witness)
    J_w = float(prob.first_variation(mu, u[None])[0])
    assert Z[20, 20] == pytest.approx(J_w, rel=1e-10)
    assert J_w == pytest.approx(-g.value, rel=1e-6)
    assert Z.min() >= J_w - 1e-9
    # a corner pixel, recomputed from the slice's directions independently of the figure
    x0, x1, y0, y1 = ax.images[0].get_extent()
    assert x1 == -x0 and y1 == -y0
    live = mu.particles / np.linalg.norm(mu.particles, axis=1, keepdims=True)
    d = live[0] - u
    e1 = d / np.linalg.norm(d)
    ax_k = int(np.argmin(np.abs(e1)))
    e2 = np.eye(4)[ax_k] - e1[ax_k] * e1
    e2 /= np.linalg.norm(e2)
    corner = u + x0 * e1 + y0 * e2
    J_c = float(prob.first_variation(mu, (corner / np.linalg.norm(corner))[None])[0])
    assert Z[0, 0] == pytest.approx(J_c, rel=1e-10)


def test_first_variation_slice_output_linear(sigmoid, tmp_path):
    prob, mu = sigmoid
    g = mf.meanfield.gap(prob, mu, seed=0)
    fig = mf.plot.plot_first_variation(prob, mu, gap=g, resolution=21, directions=[[1, 0], [0, 1]],
                                       radius=3.0, path=tmp_path / "slice_ol.png")
    Z = fig.axes[0].images[0].get_array()
    eta = np.asarray(g.witness)[2:]  # blocks a (2,), then the inner w (1,), b (1,)
    rp = mf.meanfield.reduced_potential(prob, mu)
    # independent: |G(eta)| = |(1/n) sum_i r_i psi(eta; x_i)| at the grid corner eta + (-3, -3)
    X, r = prob.data.X, prob.output_residual(mu)
    e = eta + np.array([-3.0, -3.0])
    psi = expit(X[:, 0] * e[0] + e[1])
    G = (r * psi[:, None]).mean(axis=0)
    assert Z[0, 0] == pytest.approx(np.linalg.norm(G), rel=1e-10)
    assert Z[10, 10] == pytest.approx(float(rp.norm_G(eta[None])[0]), rel=1e-12)
    with pytest.raises(mf.MfsymError, match=r"directions: expected"):
        mf.plot.plot_first_variation(prob, mu, gap=g, directions=[1, 0])
    with pytest.raises(mf.MfsymError, match="linearly independent"):
        mf.plot.plot_first_variation(prob, mu, gap=g, directions=[[1, 0], [2, 0]])


def test_first_variation_slice_general_class(tmp_path):
    """Weight decay breaks output-linearity: J itself on a slice through the general-class witness."""
    fam = mf.families.sigmoid(d=2, outputs=1)
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=2, n=30, seed=0)
    prob = mf.Problem(fam, data, reg=0.01)
    mu = mf.Measure(fam, fam.random_particles(2, seed=3), np.full(2, 0.5))
    g = mf.meanfield.gap(prob, mu, seed=0)
    assert g.kind == "general"
    fig = mf.plot.plot_first_variation(prob, mu, gap=g, resolution=21, path=tmp_path / "general.png")
    Z = fig.axes[0].images[0].get_array()
    J_w = float(prob.first_variation(mu, g.witness[None])[0])  # includes the regulariser V
    assert Z[10, 10] == pytest.approx(J_w, rel=1e-10)


def test_spectrum_figure_marks_the_symmetry_direction(demo, tmp_path):
    prob, mu, _ = demo
    sp = mf.stability.spectrum(prob, mu, seed=0)
    fig = mf.plot.plot_spectrum(sp, prob, mu, path=tmp_path / "spectrum.png")
    _png(tmp_path / "spectrum.png")
    ax = fig.axes[0]
    pts = ax.collections[0].get_offsets()
    frac = ax.collections[0].get_array()
    # independent: the Hessian by central differences of the particle gradient
    x0 = mu.particles.ravel()
    h = 1e-6
    H = np.empty((x0.size, x0.size))
    for k in range(x0.size):
        e = np.zeros_like(x0)
        e[k] = h
        gp = prob.particle_gradient(mf.Measure(prob.family, (x0 + e).reshape(mu.particles.shape), mu.masses))
        gm = prob.particle_gradient(mf.Measure(prob.family, (x0 - e).reshape(mu.particles.shape), mu.masses))
        H[:, k] = (gp - gm).ravel() / (2 * h)
    lam = np.linalg.eigvalsh(0.5 * (H + H.T))
    np.testing.assert_allclose(np.asarray(pts)[:, 1], lam, atol=1e-6)
    # relu is 2-homogeneous in (a, w): the rescaling direction theta -> (t a, w / t) is the 0 eigenvalue
    k0 = int(np.argmin(np.abs(lam)))
    assert frac[k0] > 0.99 and np.all(np.delete(frac, k0) < 0.01)
    assert ax.lines[0].get_ydata()[0] == pytest.approx(sp.lambda_min)
    fig2 = mf.plot.plot_spectrum(sp)  # without the problem: the bottom eigenvalues on the complement
    assert fig2.axes[0].lines[1].get_ydata() == pytest.approx(sp.eigenvalues)


def test_landscape_still_draws_small_inner_dimension(sigmoid, tmp_path):
    prob, mu = sigmoid
    fig = mf.meanfield.plot_landscape(prob, mu, path=tmp_path / "land.png", resolution=30)
    _png(tmp_path / "land.png")
    Z = fig.axes[0].images[0].get_array()
    R = fig.axes[0].images[0].get_extent()[1]
    rp = mf.meanfield.reduced_potential(prob, mu)
    assert Z[0, 0] == pytest.approx(float(rp.norm_G(np.array([[-R, -R]]))[0]), rel=1e-12)


def test_unwritable_figure_path_is_refused_before_drawing(sigmoid, tmp_path):
    prob, mu = sigmoid
    with pytest.raises(mf.MfsymError, match="path: the directory .* does not exist"):
        mf.plot.plot_first_variation(prob, mu, path=tmp_path / "missing" / "x.png")
