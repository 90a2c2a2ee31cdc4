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
# # 4. Open vs closed, and the light cone
#
# **What you will learn** (about 20 minutes)
#
# * the OILE map is an *open-system* approximation: after every step each particle keeps only
#   its one-body state (a product-state ansatz). The `closed` engine replays the **same
#   encounters** on the whole $N$-qubit state vector, tracing nothing;
# * when the ansatz is **exact**: as long as every particle's backward light cone is a *tree*
#   (no two of its ancestors ever met), the one-body states of the two evolutions agree to
#   round-off; the first *loop* breaks it;
# * the **light-cone tree circuit**: the OILE state of one particle after $n$ steps, computed
#   honestly on a quantum computer with only $n+1$ qubits (and resets), $2^n - 1$ encounters;
# * **monogamy of entanglement** in the closed evolution;
# * the exact all-to-all Hamiltonian built with **QuSpin**, and how the closed schedule
#   converges to it (a product formula) while the OILE map does not.
#
# Set `OILE_Q_QUICK=1` to shrink every run.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from quspin.basis import spin_basis_1d
from quspin.operators import hamiltonian

import oile_q
from oile_q.circuits import tree_circuit
from oile_q.exact import Model, quspin_hamiltonian
from oile_q.results import mass_basis, summary

QUICK = os.environ.get("OILE_Q_QUICK", "0") == "1"
np.set_printoptions(precision=4, suppress=True)
plt.rcParams["figure.dpi"] = 90

# %% [markdown]
# ## 1. A small gas and a schedule with tree-like light cones
#
# $N = 8$ particles in random pure states with random velocities and frequencies
# (mixing angle 0.2). The schedule is the **hypercube**: at step $s$ particle $i$ meets
# $i \oplus 2^{(s-1) \bmod 3}$ (bitwise XOR). In three steps every particle's past reaches all
# eight particles, each exactly once: a binary tree. At step 4, particle 0 meets particle 1
# again, whose past is the same eight particles: the first loop.

# %%
N, n_bits = 8, 3
rng = np.random.default_rng(3)
unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)
sc = oile_q.Scenario(
    unit(rng.normal(size=(N, 3))), rng.uniform(-1, 1, N), unit(rng.normal(size=(N, 3))), gamma=0.3, theta=0.2
)
steps = 9
hypercube = np.array(
    [[(i, i ^ (1 << (s % n_bits))) for i in range(N) if i < i ^ (1 << (s % n_bits))] for s in range(steps)]
)
print(
    "schedule (step, pair, 2):", hypercube.shape, "\nstep 1:", hypercube[0].tolist(), "\nstep 4:", hypercube[3].tolist()
)


def light_cone(schedule, particle, step):
    """Encounters (s, a, b) in the backward light cone of `particle` after `step` steps,
    and whether some particle enters it twice (a loop)."""
    alive, edges, loop = {particle}, [], False
    for s in range(step - 1, -1, -1):
        new = set(alive)
        for a, b in schedule[s]:
            if a in alive or b in alive:
                edges.append((s, a, b))
                if a in alive and b in alive:
                    loop = True
                new |= {a, b}
        alive = new
    return edges, loop


def arc(ax, a, b, s, **kw):
    """An encounter of a and b at step s, drawn as an arch between their world lines."""
    u = np.linspace(0, np.pi, 30)
    ax.plot(a + (b - a) * (1 - np.cos(u)) / 2, s + 0.12 * abs(b - a) * np.sin(u), **kw)


fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, step in zip(axes, (3, 4)):
    edges, loop = light_cone(hypercube, 0, step)
    for i in range(N):
        ax.plot([i, i], [0, step + 0.9], color="0.85", lw=1, zorder=0)
    for s in range(step):
        for a, b in hypercube[s]:
            arc(ax, a, b, s + 1, color="0.75", lw=1)
    for s, a, b in edges:
        arc(ax, a, b, s + 1, color="C3", lw=2)
    ax.plot([0], [step + 0.9], "v", color="C3", ms=9)
    ax.set(
        title=f"light cone of particle 0 after {step} steps: {'a loop' if loop else 'a tree'}",
        xlabel="particle",
        xticks=range(N),
        yticks=range(step + 1),
    )
axes[0].set_ylabel("step")
plt.show()

# %% [markdown]
# Run the same schedule with tracing (`oile`) and without (`closed`), and compare every
# particle's Bloch vector after every step:

# %%
traced = oile_q.run(sc, "oile", schedule=hypercube, steps=steps)
closed = oile_q.run(sc, "closed", schedule=hypercube, steps=steps, pairs=[(0, j) for j in range(1, N)])
err = np.abs(traced.P.values - closed.P.values).max(axis=(1, 2))
for s, e in enumerate(err):
    print(
        f"after step {s}: max |P_oile - P_closed| = {e:.1e}   light cone of 0: "
        f"{'loop' if light_cone(hypercube, 0, s)[1] else 'tree'}"
    )
assert err[: n_bits + 1].max() < 1e-12  # trees: the product-state ansatz is exact
assert err[n_bits + 1] > 1e-2  # the first loop: it is not
print(summary(closed))

# %% [markdown]
# Why trees are exact: if the pasts of $a$ and $b$ share no particle, their joint state
# before they meet was built by disjoint unitaries from disjoint factors of a product state,
# so it *is* the product $\rho_a\otimes\rho_b$, exactly what the OILE map assumes. A loop means
# $a$ and $b$ carry correlations from a common ancestor, which the map throws away.
#
# ## 2. The light-cone tree circuit
#
# The same reasoning builds the OILE state on a quantum computer. To get particle 0 after $n$
# steps, prepare its partner at step $n$ *as it was after $n-1$ steps* by the same recursion
# on fresh qubits, then apply the encounter. Depth first, with every used qubit reset and
# reused, this needs only $n+1$ qubits, but $2^n-1$ encounters: the price of being exact
# about what OILE keeps. (`oile_q.circuits.tree_circuit`; the `circuit` engine runs it.)

# %%
spec = tree_circuit(sc, hypercube[:3], 0)
print(f"{spec.num_qubits} qubits, {spec.encounters} encounters, {spec.resets} resets")
display(spec.circuit.draw("mpl", fold=-1, scale=0.6))

# %%
n_tree = 4 if QUICK else 5  # beyond the first loop at step 4
tree = oile_q.run(sc, "circuit", schedule=hypercube, steps=n_tree, particles=[0])
d_tree = np.abs(tree.P.values[:, 0] - traced.P.values[: n_tree + 1, 0]).max()
print(
    f"tree circuit on exact Aer vs oile, {n_tree} steps (loops included): {d_tree:.1e}; "
    f"qubits {tree.attrs['qubits']}, encounters {tree.attrs['encounters']}"
)
assert d_tree < 1e-10
assert tree.attrs["encounters"] == 2**n_tree - 1

# %% [markdown]
# Note that the tree circuit reproduces `oile` *also after the loops*: it computes the
# model's answer, not the closed one.
#
# ## 3. Monogamy of entanglement
#
# In the closed evolution particle 0 becomes entangled with the others. Entanglement is
# *monogamous*: the squared concurrences with each partner add up to at most the "tangle"
# of 0 with everything else (Coffman-Kundu-Wootters; Osborne-Verstraete for $N$ qubits),
#
# $$\sum_{j\neq0} C^2(0,j)\ \le\ 1-|\mathbf P_0|^2 .$$
#
# The gap is entanglement that is not pairwise (genuinely multipartite).

# %%
tangle = 1 - (closed.P.values[:, 0] ** 2).sum(-1)
sum_c2 = (closed.concurrence.values**2).sum(-1)
assert np.all(sum_c2 <= tangle + 1e-8)  # 1e-8: round-off of Wootters' formula (square roots near zero)
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(tangle, "o-", label=r"$1-|\mathbf{P}_0|^2$")
ax.plot(sum_c2, "s--", label=r"$\sum_j C^2(0,j)$")
ax.fill_between(range(steps + 1), sum_c2, tangle, color="C0", alpha=0.15, label="not pairwise")
ax.set(xlabel="step", title="Monogamy in the closed evolution (hypercube schedule)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 4. The exact all-to-all evolution, built with QuSpin
#
# If every pair interacts all the time, weakly, instead of once and briefly, the gas obeys
# the closed many-body Hamiltonian (mass basis, units of $\mu$):
#
# $$\frac{H}{\mu} = -\sum_a\frac{\omega_a}{2}\sigma^z_a + \sum_{a<b}\frac{g_{ab}}{2(N-1)}\,
#   \boldsymbol\sigma_a\cdot\boldsymbol\sigma_b,\qquad g_{ab} = 1-\vec v_a\cdot\vec v_b .$$
#
# We build it with QuSpin's `hamiltonian` from operator strings, check it against the
# toolkit's own builder, diagonalise it, and compare the evolved one-body states with the
# `exact` engine (which uses a matrix-free Chebyshev method).

# %%
g = 1 - sc.velocity @ sc.velocity.T
J = [[g[a, b] / (2 * (N - 1)), a, b] for a in range(N) for b in range(a + 1, N)]
h = [[-sc.omega[a] / 2, a] for a in range(N)]
basis = spin_basis_1d(N, pauli=1)  # full basis; site 0 = leftmost; '1' = up = nu_1
checks = dict(check_herm=False, check_symm=False, check_pcon=False)
H = hamiltonian([["xx", J], ["yy", J], ["zz", J], ["z", h]], [], basis=basis, dtype=np.complex128, **checks)
H_toolkit = quspin_hamiltonian(Model(sc), basis)
assert np.abs(H.toarray() - H_toolkit.toarray()).max() < 1e-14
E, V = H.eigh()
print(f"{basis.Ns} states, spectrum from {E[0]:.3f} to {E[-1]:.3f} mu")

Pm0 = mass_basis(traced).values[0]  # initial Bloch vectors, mass basis
spinor = lambda P: np.array(
    [np.cos(np.arccos(P[2]) / 2), np.exp(1j * np.arctan2(P[1], P[0])) * np.sin(np.arccos(P[2]) / 2)]
)
psi0 = spinor(Pm0[0])
for a in range(1, N):
    psi0 = np.kron(psi0, spinor(Pm0[a]))  # particle 0 is the most significant factor

t_ex = np.linspace(0, 4.0, 9)
sig = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])
P_quspin = []
for t in t_ex:
    psi = V @ (np.exp(-1j * E * t) * (V.conj().T @ psi0))
    T = psi.reshape((2,) * N)
    rho = [
        np.tensordot(np.moveaxis(T, a, 0), np.moveaxis(T, a, 0).conj(), axes=(range(1, N), range(1, N)))
        for a in range(N)
    ]
    P_quspin.append([[np.trace(r @ s).real for s in sig] for r in rho])
ex = oile_q.run(sc, "exact", times=t_ex)
d_exact = np.abs(np.array(P_quspin) - mass_basis(ex).values).max()
print(f"QuSpin diagonalisation vs exact engine: {d_exact:.1e}")
assert d_exact < 1e-9

# %% [markdown]
# The round-robin schedule meets every pair once per $N-1 = 7$ steps. Replayed *closed*, one
# cycle is a first-order product formula (Trotter-like) for $e^{-iH\,7\gamma/\mu}$: its error vanishes
# as $\gamma\to0$, at first order. (We compare after whole cycles; a partial cycle adds an
# error of the same order that depends on where it stops.) The *traced* map with the same
# schedule does not converge to $H$: it is a different model.

# %%
t_cmp = 2.1
cycles = np.array([5, 10, 20] if QUICK else [5, 10, 20, 40])
gs = t_cmp / ((N - 1) * cycles)  # whole round-robin cycles up to mu t = 2.1
ex = mass_basis(oile_q.run(sc, "exact", times=[t_cmp])).values[-1]
err_closed, err_oile = [], []
for gam, k in zip(gs, cycles):
    s_g = sc.replace(gamma=gam)
    for engine, store in (("closed", err_closed), ("oile", err_oile)):
        r = oile_q.run(s_g, engine, schedule="round-robin", steps=int(k * (N - 1)), times=[t_cmp])
        store.append(np.abs(mass_basis(r).values[-1] - ex).max())
slope = np.polyfit(np.log(gs), np.log(err_closed), 1)[0]
print("closed error:", np.array(err_closed), f"~ gamma^{slope:.2f}")
print("oile error  :", np.array(err_oile))
# first order, with O(gamma) relative corrections (gamma <= 0.06): window 0.9 - 1.1
assert 0.9 < slope < 1.1
assert min(err_oile) > 5 * min(err_closed)
fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(gs, err_closed, "o-", label="closed, round-robin")
ax.loglog(gs, err_oile, "s-", label="oile (traced), round-robin")
ax.loglog(gs, err_closed[0] * gs / gs[0], "k:", lw=0.8, label="slope 1")
ax.set(xlabel=r"$\gamma$", ylabel=f"max |P - P_exact| at mu t = {t_cmp:g}", title="Convergence to the all-to-all H")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** With $N = 16$ and the 4-bit hypercube, for how many steps is the OILE map
# exact? Check with `closed`.
#
# <details><summary>Solution (idea)</summary>
#
# $\log_2 N = 4$ steps: after 4 steps the light cone holds all 16 particles once; the 5th
# step (particle 0 meets particle 1 again) closes the first loop. The closed state vector has
# $2^{16}$ amplitudes: still instant.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 1
N16 = 16
s16 = oile_q.Scenario(
    unit(rng.normal(size=(N16, 3))), rng.uniform(-1, 1, N16), unit(rng.normal(size=(N16, 3))), gamma=0.3, theta=0.2
)
hc16 = np.array([[(i, i ^ (1 << (s % 4))) for i in range(N16) if i < i ^ (1 << (s % 4))] for s in range(6)])
e16 = np.abs(
    oile_q.run(s16, "oile", schedule=hc16, steps=6).P.values
    - oile_q.run(s16, "closed", schedule=hc16, steps=6).P.values
).max(axis=(1, 2))
print(e16)
assert e16[:5].max() < 1e-12 and e16[5] > 1e-3

# %% [markdown]
# **Exercise 2.** The tree circuit for $n$ steps has $2^n-1$ encounters but only $n+1$ qubits.
# How many resets does it use, and why can a qubit be reused at all?
#
# <details><summary>Solution (idea)</summary>
#
# Depth first: the partner's subtree is computed on qubits $1..$, used once by the encounter
# and then never needed again (the map keeps no correlations), so its qubits can be reset and
# reused for the next subtree. Every encounter except the ones on a qubit's first use needs
# a fresh (reset) partner qubit; `tree_circuit` counts them.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 2
for n in range(1, 6):
    sp = tree_circuit(sc, hypercube[:n], 0)
    print(f"n = {n}: {sp.num_qubits} qubits, {sp.encounters} encounters, {sp.resets} resets")
    assert sp.num_qubits == n + 1 and sp.encounters == 2**n - 1

# %% [markdown]
# **Exercise 3.** As $\gamma\to0$ at fixed $\mu t$ with the round-robin schedule, `closed` tends to
# `exact`. What does `oile` tend to? Test the guess with the `meanfield` engine.
#
# <details><summary>Solution (idea)</summary>
#
# The mean field: the product-state ansatz at every step, with weak encounters, gives
# $\dot{\mathbf P}_a = (-\omega_a\mathbf B + \mu\mathbf M_a)\times\mathbf P_a$ (notebook 3). For $N = 8$ the mean field and the
# exact evolution differ visibly by $\mu t = 2$: that difference is the many-body correlation the
# ansatz discards.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 3
mf = mass_basis(oile_q.run(sc, "meanfield", times=[t_cmp], rtol=1e-10, atol=1e-12)).values[-1]
err_mf = []
for gam, k in zip(gs, cycles):
    r = oile_q.run(sc.replace(gamma=gam), "oile", schedule="round-robin", steps=int(k * (N - 1)), times=[t_cmp])
    err_mf.append(np.abs(mass_basis(r).values[-1] - mf).max())
print("oile vs meanfield:", np.array(err_mf), " meanfield vs exact:", np.abs(mf - ex).max())
assert err_mf[-1] < err_mf[0] and err_mf[-1] < 0.5 * np.abs(mf - ex).max()

# %% [markdown]
# **Next:** notebook 5 runs the foreground collision model on (simulated) IBM quantum hardware.
