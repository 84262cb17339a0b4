"""LaTeX rendering of a :class:`~._check.Report` (the formulas the verdict rests on)."""

from __future__ import annotations

import numpy as np


def _tex_num(x: float) -> str:
    if not np.isfinite(x):
        return r"\infty" if x > 0 else r"-\infty"
    s = f"{x:.4g}"
    if "e" in s:
        mant, exp = s.split("e")
        return rf"{mant} \times 10^{{{int(exp)}}}"
    return s


def _vec(v) -> str:
    return r"(" + ", ".join(_tex_num(float(t)) for t in np.asarray(v).ravel()) + r")"


def latex_report(rep) -> str:
    """A self-contained LaTeX fragment: verdict, stationarity, finite width, mean field, certificate claims."""
    fam = rep.problem.family if rep.problem is not None else None
    out = [r"\section*{mfsym check}",
           rf"\textbf{{Verdict: {rep.verdict.value}.}} {rep.message.replace('`', '')}.",
           r"\paragraph{Model.} $f_\mu(x) = \sum_{j=1}^m c_j\,\varphi(\theta_j; x)$, "
           r"$L(\mu) = \frac{1}{2n}\sum_i |f_\mu(x_i) - y_i|^2 + \int V\,d\mu$"
           + (rf", family \texttt{{{fam.name}}} ({fam.homogeneity}), $p = {fam.p}$." if fam is not None else "."),
           r"\paragraph{Stationarity.} $J_\mu(\theta) = \frac1n\sum_i \langle r_i, \varphi(\theta; x_i)\rangle + V(\theta)$, "
           rf"$\max_j |\nabla J_\mu(\theta_j)| = {_tex_num(rep.residual)}$ (tolerance ${_tex_num(rep.tol)}$)."]
    fw = rep.finite_width
    if fw is not None:
        out.append(r"\paragraph{Finite width.} Particle Hessian "
                   r"$\partial^2_{\theta_j\theta_l} F = \delta_{jl} c_j \nabla^2 J_\mu(\theta_j) + "
                   r"c_j c_l \frac1n\sum_i \nabla\varphi(\theta_j; x_i)^\top \nabla\varphi(\theta_l; x_i)$; on the "
                   rf"complement of ${fw.symmetry_dim}$ symmetry direction(s): "
                   rf"$\lambda_{{\min}} = {_tex_num(fw.lambda_min)}$, $\lambda_{{\max}} = {_tex_num(fw.lambda_max)}$. "
                   rf"Classification: \textbf{{{fw.classification}}} "
                   rf"({'certified in ball arithmetic' if fw.certified else 'numerical, not certified'}).")
    mf_ = rep.mean_field
    if mf_ is not None:
        if mf_.kind == "output-linear":
            gap = r"s^* = \sup_\eta |G_\mu(\eta)|_F,\quad G_\mu(\eta) = \frac1n\sum_i r_i\,\psi(\eta; x_i)^\top"
        elif mf_.kind == "homogeneous":
            gap = r"s^* = -\min_{|\theta| = 1} J_\mu(\theta)"
        else:
            gap = r"s^* = \max(0, -\min J_\mu)"
        out.append(rf"\paragraph{{Mean field.}} Gap ${gap} = {_tex_num(mf_.gap)}$ ({mf_.method}).")
        if mf_.witness is not None:
            out.append(rf"Witness $\hat\theta = {_vec(mf_.witness)}$"
                       + (r" (far along a limiting direction at infinity)" if mf_.at_infinity else "")
                       + (r": $J_\mu(\hat\theta) < 0$ is certified, so adding mass at $\hat\theta$ lowers $L$ and "
                          r"$\mu$ is not a global minimizer." if mf_.certified_nonglobal else "."))
        for s in mf_.escaping_sets:
            try:
                out.append(rf"Escaping set $K_c$ at level $c = {_tex_num(s.level)}$ around ${_vec(s.witness)}$: "
                           rf"growth rate ${_tex_num(s.growth_rate)}$, margin $\kappa = {_tex_num(s.margin)}$, "
                           rf"{s.n_components} component(s), {'certified' if s.certified else 'candidate'}.")
            except Exception:  # pragma: no cover - describe what we can
                out.append(r"Escaping set (unreadable).")
    claims = rep.certificate.get("claims", [])
    if claims:
        out.append(r"\paragraph{Certificate.} Ball arithmetic at "
                   rf"{rep.certificate.get('precision_bits')} bits; each claim with its enclosure:")
        out.append(r"\begin{itemize}")
        for c in claims:
            enc = c.get("enclosure")
            rng = (rf"$[{_tex_num(float.fromhex(enc[0]) if enc[0] not in ('-inf', 'inf') else float(enc[0]))}, "
                   rf"{_tex_num(float.fromhex(enc[1]) if enc[1] not in ('-inf', 'inf') else float(enc[1]))}]$"
                   if enc else "none")
            stmt = c["statement"].replace("_", r"\_").replace("^", r"\^{}").replace("|", r"$|$")
            out.append(rf"\item \texttt{{{c['name']}}}: {stmt}; enclosure {rng}; \textbf{{{c['outcome']}}}.")
        out.append(r"\end{itemize}")
    for r in rep.reasons:
        out.append(r"\noindent Note: " + r.replace("_", r"\_").replace("`", "").replace("|", r"$|$") + r"\\")
    return "\n".join(out) + "\n"
