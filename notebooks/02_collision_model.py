# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. A collision model and its master equation
#
# **What you will learn** (about 20 minutes)
#
# * a foreground neutrino crossing a background, meeting one *fresh* partner per encounter,
#   is a textbook **quantum collision model** (repeated interactions with fresh ancillas;
#   Ciccarello, Lorenzo, Giovannetti & Palma, *Phys. Rep.* 954 (2022)): iterate the channel
#   of notebook 1;
# * the discrete map is solvable in closed form, and as $\gamma\to0$ at fixed $\mu t$ it
#   becomes paper I's Eq. (8), which is a **Lindblad equation**: precession about the
#   background plus amplitude damping towards it;
# * how good Eq. (8) is: its error per encounter is $O(\gamma^3)$ (we *measure* the exponent),
#   so $O(\gamma^2)$ at fixed $\mu t$, and why it is $O(\gamma^4)$ without vacuum oscillations;
# * **decoherence is entanglement** with past partners: keep the partners (the `closed`
#   engine) and the purity the neutrino lost is found, exactly, in its pairwise entanglement
#   with them;
# * **memory**: reuse the partners and the dynamics becomes non-Markovian: purity comes back.
#
# Set `OILE_Q_QUICK=1` to shrink every run.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import oile_q
from oile_q.results import summary

QUICK = os.environ.get("OILE_Q_QUICK", "0") == "1"
np.set_printoptions(precision=4, suppress=True)
plt.rcParams["figure.dpi"] = 90

# %% [markdown]
# ## 1. The foreground model (paper I, Sec. II and Fig. 1)
#
# A $\nu_e$ ($\mathbf P_0=\hat z$) crosses a background of neutrinos all in
# $(\nu_e+\nu_x)/\sqrt2$ ($\mathbf Q = \hat x$), $\vec v\cdot\vec u = 0$. Each encounter lasts
# $\Delta z = \gamma/\mu$ and is the channel $\mathcal E$ of notebook 1 with $\varphi = \gamma g$,
# $g = 1-\vec v\cdot\vec u$. The `oile` engine iterates it; the `master` engine solves
# paper I's Eq. (8),
#
# $$\dot{\mathbf P} = \mu g\,\mathbf Q\times\mathbf P - \gamma\mu g^2(\mathbf P-\mathbf Q)
#   - \frac{\gamma\mu g^2}{2}\,\mathbf Q\times(\mathbf Q\times\mathbf P).$$

# %%
P0, Q = [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]
t_max = 10.0 if QUICK else 30.0
gammas = [1.0, 0.1] if QUICK else [1.0, 0.1, 1e-3]
fig, axes = plt.subplots(3, 1, figsize=(8, 6.5), sharex=True)
for gamma, ls in zip(gammas, (":", "--", "-.")):
    sc = oile_q.Scenario.foreground(P0, Q, gamma=gamma)
    ds = oile_q.run(sc, "oile", t_max=t_max)
    eq8 = oile_q.run(sc, "master", times=np.linspace(0, t_max, 601))
    for i, ax in enumerate(axes):
        (line,) = ax.plot(ds.time, ds.P[:, 0, i], ls, label=f"OILE map, gamma = {gamma:g}")
        ax.plot(eq8.time, eq8.P[:, 0, i], "-", lw=0.7, color=line.get_color())
for i, ax in enumerate(axes):
    ax.set_ylabel(f"$P_{'xyz'[i]}$")
axes[0].legend(fontsize=8, loc="upper right", ncol=3)
axes[-1].set_xlabel(r"$\mu t$")
fig.suptitle("Foreground neutrino (paper I Fig. 1): map (broken) vs Eq. (8) (thin solid)")
plt.show()
print(summary(ds))

# %% [markdown]
# ## 2. The map in closed form, and Eq. (8) as a Lindblad equation
#
# Without vacuum terms one encounter maps $\mathbf P\mapsto\cos^2\!\varphi\,\mathbf P + \sin^2\!\varphi\,\mathbf Q
# + \sin\varphi\cos\varphi\,\mathbf Q\times\mathbf P$ (notebook 1). Split $\mathbf P$ into its parts
# along and across $\mathbf Q$ (a unit vector): after $n$ encounters
#
# $$1-P_\parallel(n) = \cos^{2n}\!\varphi\,\bigl(1-P_\parallel(0)\bigr),\qquad
#   \mathbf P_\perp(n) = \cos^n\!\varphi\;\mathcal R_{\mathbf Q}(n\varphi)\,\mathbf P_\perp(0),$$
#
# a rotation about $\mathbf Q$ by $n\varphi = g\,\mu t$ and a shrinking. Eq. (8) gives instead
# $e^{-\gamma g^2\mu t}$ and $e^{-\gamma g^2\mu t/2}$: with $\mu t = n\gamma$,
# $\cos^{2n}\!\varphi = e^{-\gamma g^2\mu t\,(1+\varphi^2/6+\dots)}$, so the two agree to relative order $\varphi^2$.
#
# Eq. (8) with $|\mathbf Q| = 1$ is exactly the Lindblad equation
#
# $$\dot\rho = -i\Bigl[\tfrac{\mu g}{2}\mathbf Q\cdot\boldsymbol\sigma,\ \rho\Bigr]
#   + \Gamma\Bigl(L\rho L^\dagger - \tfrac12\{L^\dagger L,\rho\}\Bigr),\qquad
#   L = |q\rangle\langle q_\perp|,\quad \Gamma = \gamma\mu g^2 ,$$
#
# precession about the background plus **amplitude damping towards the background state**
# $|q\rangle$ (decay rates $\Gamma$ along $\mathbf Q$ and $\Gamma/2$ across it: $T_2 = 2T_1$).

# %%
gamma, g = 0.1, 1.0
sc = oile_q.Scenario.foreground(P0, Q, gamma=gamma)
n = np.arange(0, 301)
ds = oile_q.run(sc, "oile", steps=n[-1])
phi = gamma * g
Qv, Pv0 = np.array(Q), np.array(P0)
par0, perp0 = Pv0 @ Qv, Pv0 - (Pv0 @ Qv) * Qv
ang = n * phi
rot = np.cos(ang)[:, None] * perp0 + np.sin(ang)[:, None] * np.cross(Qv, perp0)
P_closed = (1 - np.cos(phi) ** (2 * n) * (1 - par0))[:, None] * Qv + np.cos(phi) ** n[:, None] * rot
err_map = np.abs(P_closed - ds.P.values[:, 0]).max()
print(f"closed form vs oile over {n[-1]} encounters: {err_map:.1e}")
assert err_map < 1e-12

# Eq. (8) as a Lindblad equation: compare the two right-hand sides on random Bloch vectors
sig = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])
q, q_perp = np.array([1, 1]) / np.sqrt(2), np.array([1, -1]) / np.sqrt(2)  # |q> has Bloch vector Q = x
H = 0.5 * g * np.einsum("i,ijk->jk", Qv, sig)
L = np.sqrt(gamma) * g * np.outer(q, q_perp.conj())
rng = np.random.default_rng(1)
for P in rng.normal(size=(5, 3)) * 0.5:
    rho = 0.5 * (np.eye(2) + np.einsum("i,ijk->jk", P, sig))
    drho = -1j * (H @ rho - rho @ H) + L @ rho @ L.conj().T - 0.5 * (L.conj().T @ L @ rho + rho @ L.conj().T @ L)
    dP_lindblad = np.real(np.einsum("ijk,kj->i", sig, drho))
    dP_eq8 = g * np.cross(Qv, P) - gamma * g**2 * (P - Qv) - 0.5 * gamma * g**2 * np.cross(Qv, np.cross(Qv, P))
    assert np.abs(dP_lindblad - dP_eq8).max() < 1e-14
print("Eq. (8) = precession + amplitude damping towards Q (checked on random P)")

# %% [markdown]
# ## 3. How wrong is Eq. (8)? Measure the exponent
#
# Eq. (8) is obtained by matching one step of the map to the flow of a differential equation
# **to second order in $\gamma$**, so the mismatch per encounter should be $O(\gamma^3)$ and,
# after the $\mu t/\gamma$ encounters of a fixed time, $O(\gamma^2)$. We measure both with
# vacuum oscillations and mixing switched on ($\omega = 0.5\mu$, $\theta = 0.3$; `master`
# includes the partner's own precession during the encounter, docs/theory.md, The bracket and Poisson timing), and the
# one-step error also without them, where the closed forms above predict that the
# $\gamma^3$ term vanishes and the error starts at $\gamma^4$ ($\cos^2\varphi$ vs $e^{-\varphi^2}$).

# %%
gs = np.array([0.1, 0.05, 0.025, 0.0125])  # cheap: the same in quick mode
T = 5.0
tight = dict(rtol=1e-13, atol=1e-15)


def errors(omega, theta):
    one, fixed = [], []
    for gam in gs:
        s = oile_q.Scenario.foreground([0, 0, 1], [0.6, 0, 0.8], gamma=gam, vdotu=0.2, omega=omega, theta=theta)
        a, b = oile_q.run(s, "oile", steps=1), oile_q.run(s, "master", steps=1, **tight)
        one.append(np.abs(a.P.values[-1] - b.P.values[-1]).max())
        a, b = oile_q.run(s, "oile", t_max=T), oile_q.run(s, "master", t_max=T, **tight)
        fixed.append(np.abs(a.P.values - b.P.values).max())
    return np.array(one), np.array(fixed)


def slope(err):
    return np.polyfit(np.log(gs), np.log(err), 1)[0]


one_v, fixed_v = errors(0.5, 0.3)
one_0, fixed_0 = errors(0.0, 0.0)
print(f"with vacuum terms: one step ~ gamma^{slope(one_v):.3f}, at mu t = {T:g} ~ gamma^{slope(fixed_v):.3f}")
print(f"without:           one step ~ gamma^{slope(one_0):.3f}, at mu t = {T:g} ~ gamma^{slope(fixed_0):.3f}")
# Leading order gamma^k with relative corrections O(gamma) (gamma <= 0.1): windows of +-0.1 in the local
# exponents, +-0.15 for the accumulated error.
assert abs(slope(one_v) - 3) < 0.1
assert abs(slope(fixed_v) - 2) < 0.15
assert abs(slope(one_0) - 4) < 0.1

fig, ax = plt.subplots(figsize=(6.5, 4.2))
ax.loglog(gs, one_v, "o-", label=r"one encounter, $\omega\neq0$")
ax.loglog(gs, fixed_v, "s-", label=rf"at $\mu t = {T:g}$, $\omega\neq0$")
ax.loglog(gs, one_0, "^-", label=r"one encounter, $\omega=0$")
ax.loglog(gs, fixed_0, "v-", label=rf"at $\mu t = {T:g}$, $\omega=0$")
for k, y0 in ((3, one_v[0]), (2, fixed_v[0]), (4, one_0[0])):
    ax.loglog(gs, y0 * (gs / gs[0]) ** k, "k:", lw=0.8)
ax.set(xlabel=r"$\gamma$", ylabel="max |P(map) - P(Eq. 8)|", title="Error of Eq. (8) (dotted: slopes 2, 3, 4)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 4. Decoherence is entanglement with past partners
#
# The `oile` engine forgets every partner after its encounter. Keep them instead: put the
# foreground neutrino (particle 0) and $n$ partners (particles $1..n$, all in $\mathbf Q$) into
# one ensemble and let particle 0 meet particle $k$ at step $k$, an explicit schedule. The
# `closed` engine evolves the whole $(n+1)$-qubit state vector without tracing anything
# (it stays pure), and reports each particle's entropy and, for the pairs we ask for, the
# concurrence $C(0,k)$ and mutual information.
#
# Every partner is fresh, so particle 0's state must equal the `oile` result exactly. And the
# purity it lost should be *somewhere*: the Coffman-Kundu-Wootters (monogamy) inequality says
# $\sum_k C^2(0,k) \le 1-|\mathbf P_0|^2$ (the right side is the "tangle" of particle 0 with
# everything else). Here it holds with **equality**: the SWAP power conserves the number of
# "excitations" orthogonal to $|q\rangle$, so the global state is $\alpha|q\,q\cdots q\rangle$ + (one
# excitation spread over the qubits), a W-like state whose entanglement is all pairwise.

# %%
n_partners = 7 if QUICK else 13  # N = n + 1 must be even
N, gamma = n_partners + 1, 0.3
P0s = np.array([[0.0, 0.0, 1.0]] + [Q] * n_partners)
vel = np.array([[0.0, 0.0, 1.0]] + [[1.0, 0.0, 0.0]] * n_partners)  # g = 1 - v.u = 1 with particle 0
ens = oile_q.Scenario(P0s, np.zeros(N), vel, gamma=gamma, group=["foreground"] + ["partner"] * n_partners)
schedule = -np.ones((n_partners, N // 2, 2), dtype=int)  # (-1, -1): a slot where nobody meets
schedule[:, 0, 0] = 0
schedule[:, 0, 1] = np.arange(1, N)
closed = oile_q.run(ens, "closed", schedule=schedule, steps=n_partners, pairs=[(0, k) for k in range(1, N)])
fg = oile_q.run(oile_q.Scenario.foreground(P0, Q, gamma=gamma), "oile", steps=n_partners)

P_0 = closed.P.values[:, 0]
tangle = 1 - (P_0**2).sum(-1)
sum_c2 = (closed.concurrence.values**2).sum(-1)
print("closed vs oile (foreground):", np.abs(P_0 - fg.P.values[:, 0]).max())
print("1 - |P_0|^2      :", tangle)
print("sum_k C(0,k)^2   :", sum_c2)
assert np.abs(P_0 - fg.P.values[:, 0]).max() < 1e-12
# Wootters' concurrence takes square roots of eigenvalues near zero: its round-off is ~sqrt(eps) ~ 1e-8
assert np.abs(sum_c2 - tangle).max() < 1e-6
assert np.abs(closed.norm.values - 1).max() < 1e-12  # the whole stays a pure state

steps = np.arange(n_partners + 1)
fig, ax = plt.subplots(figsize=(7.5, 4.2))
ax.plot(steps, tangle, "o-", label=r"$1-|\mathbf{P}_0|^2$ (tangle with everything else)")
ax.plot(steps, sum_c2, "x", ms=10, label=r"$\sum_k C^2(0,k)$, closed engine")
ax.plot(steps, closed.entropy.values[:, 0], "s--", label="entropy of particle 0 (bits)")
ax.plot(steps, closed.mutual_information.values[:, 0], "^:", label="I(0 : first partner) (bits)")
ax.set(xlabel="encounters", title=f"Where the purity goes (gamma = {gamma:g}, {n_partners} partners kept)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 5. Memory: partners that come back
#
# Collision models are Markovian because each ancilla is fresh. Let the foreground meet the
# same $m$ partners in turn instead (step $k$: partner $1 + (k \bmod m)$). The `closed` engine
# keeps all correlations, so what went into a partner can come back. With $m = 1$ the
# evolution is just $e^{-in\varphi\,\mathrm{SWAP}}$: at $n\varphi = \pi/2$ the two neutrinos have
# swapped states and the foreground is **pure again**. The `oile` engine on the same schedule
# (it forgets correlations after every step) cannot do that.
#
# A standard witness of memory (Breuer-Laine-Piilo): for Markovian (CP-divisible) dynamics
# the trace distance $D = \tfrac12|\mathbf P_1-\mathbf P_2|$ between two initial states never grows.
# We follow two initial states and look for growth.

# %%
gamma = np.pi / 40  # 20 encounters make a full SWAP for m = 1
nsteps = 60 if QUICK else 200
Pa, Pb = np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -1.0])


def pool_run(m, P_start, engine):
    Nm = m + 1
    P0m = np.array([P_start] + [Q] * m)
    velm = np.array([[0.0, 0.0, 1.0]] + [[1.0, 0.0, 0.0]] * m)
    sched = -np.ones((nsteps, Nm // 2, 2), dtype=int)
    sched[:, 0, 0] = 0
    sched[:, 0, 1] = 1 + np.arange(nsteps) % m
    s = oile_q.Scenario(P0m, np.zeros(Nm), velm, gamma=gamma)
    return oile_q.run(s, engine, schedule=sched, steps=nsteps).P.values[:, 0]


fresh_a = oile_q.run(oile_q.Scenario.foreground(Pa, Q, gamma=gamma), "oile", steps=nsteps).P.values[:, 0]
fresh_b = oile_q.run(oile_q.Scenario.foreground(Pb, Q, gamma=gamma), "oile", steps=nsteps).P.values[:, 0]
runs = {"fresh partners (oile)": (fresh_a, fresh_b)}
for m in (1, 3, 7):
    runs[f"m = {m}, closed"] = (pool_run(m, Pa, "closed"), pool_run(m, Pb, "closed"))
runs["m = 1, oile (forgets)"] = (pool_run(1, Pa, "oile"), pool_run(1, Pb, "oile"))

mu_t = gamma * np.arange(nsteps + 1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
for label, (A, B) in runs.items():
    ax1.plot(mu_t, np.linalg.norm(A, axis=-1), label=label)
    ax2.plot(mu_t, 0.5 * np.linalg.norm(A - B, axis=-1), label=label)
ax1.set(xlabel=r"$\mu t$", ylabel=r"$|\mathbf{P}_0|$ (purity)", title="Reused partners: purity comes back")
ax2.set(xlabel=r"$\mu t$", ylabel=r"$D = |\mathbf{P}_1-\mathbf{P}_2|/2$", title="Trace distance of two initial states")
ax1.legend(fontsize=8)
plt.show()

A, B = runs["m = 1, closed"]
assert abs(np.linalg.norm(A[20]) - 1) < 1e-12 and np.abs(A[20] - Q).max() < 1e-12  # a full SWAP
dD_fresh = np.diff(0.5 * np.linalg.norm(fresh_a - fresh_b, axis=-1))
dD_m1 = np.diff(0.5 * np.linalg.norm(A - B, axis=-1))
print(f"largest growth of D per step: fresh {dD_fresh.max():.1e}, m = 1 closed {dD_m1.max():.2e}")
assert dD_fresh.max() <= 1e-12  # Markovian: D never grows (it shrinks by cos^2 phi per step)
assert dD_m1.max() > 1e-2  # memory: information flows back

# %% [markdown]
# Read the right panel with care: with fresh partners $D$ shrinks by exactly $\cos\varphi$ per
# step, never growing. The closed runs with reused partners show large regrowth: memory.
# The `oile` curve for $m=1$ also regrows, but for another reason: with a reused partner,
# the partner's state depends on the foreground's, so the product-state map is *nonlinear*
# in the foreground state and the BLP argument (made for linear, completely positive maps)
# does not apply. Its purity, though, only decays: the ansatz forgets the correlations that
# would bring it back.
#
# ## Exercises
#
# **Exercise 1.** From the closed form, the map relaxes $P_\parallel$ at the rate
# $-\tfrac{2}{\gamma}\ln\cos(\gamma g)$ per unit $\mu t$, while Eq. (8) says $\gamma g^2$. At which
# $\gamma$ do they differ by 1 %? Check with the engines.
#
# <details><summary>Solution (idea)</summary>
#
# $-2\ln\cos\varphi = \varphi^2 + \varphi^4/6 + \dots$, so the ratio is $1 + \varphi^2/6$: 1 % at
# $\varphi \approx 0.245$, i.e. $\gamma \approx 0.245$ for $g = 1$. The cell fits the decay of
# $1 - P_\parallel$ in both engines.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 1
gam = 0.245
s1 = oile_q.Scenario.foreground(P0, Q, gamma=gam)
a = oile_q.run(s1, "oile", steps=40)
b = oile_q.run(s1, "master", times=a.time.values, **tight)
rate_map = -np.polyfit(a.time, np.log(1 - a.P.values[:, 0, 0]), 1)[0]
rate_eq8 = -np.polyfit(b.time, np.log(1 - b.P.values[:, 0, 0]), 1)[0]
print(f"rates: map {rate_map:.5f}, Eq. 8 {rate_eq8:.5f}, ratio {rate_map / rate_eq8:.4f}")
assert abs(rate_map / rate_eq8 - 1.01) < 1e-3
assert abs(rate_map + 2 / gam * np.log(np.cos(gam))) < 1e-9

# %% [markdown]
# **Exercise 2.** Make the background *mixed*, $|\mathbf Q| = 0.5$. Where does the foreground end,
# and at which rates does it get there? Compare Eq. (8b):
# $\dot{\mathbf P} = \mu\mathbf Q\times\mathbf P - \gamma\mu[\mathbf P_\parallel + (1-|\mathbf Q|^2/2)\mathbf P_\perp] + \gamma\mu\mathbf Q$.
#
# <details><summary>Solution (idea)</summary>
#
# The fixed point is $\mathbf P = \mathbf Q$ (a mixed state: the neutrino ends as mixed as the
# background). $P_\parallel$ relaxes at $\gamma\mu$, the perpendicular part at
# $\gamma\mu(1-|\mathbf Q|^2/2) = 0.875\,\gamma\mu$, while precessing at $\mu|\mathbf Q|$. Not amplitude
# damping any more: a mixed target needs two jump operators.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 2
Qm = [0.5, 0.0, 0.0]
s2 = oile_q.Scenario.foreground(P0, Qm, gamma=0.02)
a = oile_q.run(s2, "oile", times=np.linspace(0, 400, 201))
print("P at gamma mu t = 8:", a.P.values[-1, 0])
assert np.abs(a.P.values[-1, 0] - Qm).max() < 2e-3  # ~ exp(-0.875 * 8) ~ 1e-3 left
perp = np.linalg.norm(a.P.values[:, 0, 1:], axis=-1)  # the part across Q = x
k = (a.time.values > 20) & (a.time.values < 300)
rate_perp = -np.polyfit(a.time.values[k], np.log(perp[k]), 1)[0] / 0.02
print(f"perpendicular decay rate / (gamma mu) = {rate_perp:.3f} (Eq. 8b: {1 - 0.5**2 / 2})")
assert abs(rate_perp - (1 - 0.25 / 2)) < 0.02

# %% [markdown]
# **Exercise 3.** Redo section 4 with a *mixed* background ($|\mathbf Q| = 0.8$, five partners;
# the `closed` engine purifies mixed states exactly). Is $\sum_k C^2(0,k) = 1-|\mathbf P_0|^2$ still
# true? Why not?
#
# <details><summary>Solution (idea)</summary>
#
# No: now $\sum_k C^2 < 1-|\mathbf P_0|^2$. The foreground also becomes mixed through classical
# uncertainty about which pure state each partner was in (the partners' purifiers), and
# that part of its mixedness is no entanglement with the partners. Only for pure partners is
# "lost purity" the same as "entanglement with the environment".
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 3
n5 = 5
Pm = np.array([[0.0, 0.0, 1.0]] + [[0.8, 0.0, 0.0]] * n5)
s3 = oile_q.Scenario(Pm, np.zeros(n5 + 1), vel[: n5 + 1], gamma=0.3)
sched = -np.ones((n5, 3, 2), dtype=int)
sched[:, 0, 0], sched[:, 0, 1] = 0, np.arange(1, n5 + 1)
c3 = oile_q.run(s3, "closed", schedule=sched, steps=n5, pairs=[(0, k) for k in range(1, n5 + 1)])
t3 = 1 - (c3.P.values[:, 0] ** 2).sum(-1)
s3c2 = (c3.concurrence.values**2).sum(-1)
print("1 - |P_0|^2:", t3, "\nsum C^2    :", s3c2)
assert np.all(s3c2[1:] < t3[1:] - 1e-3)

# %% [markdown]
# **Next:** notebook 3 lets *every* neutrino be foreground and background at once: a gas
# of two groups, where the same encounters drive coherent collective oscillations first and
# flavor equilibration later.
