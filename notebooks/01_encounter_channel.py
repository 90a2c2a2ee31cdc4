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
# # 1. One encounter is a quantum channel
#
# **What you will learn** (about 15 minutes)
#
# * the meeting of two neutrinos in the OILE model is one two-qubit unitary, a *SWAP power*
#   $e^{-i\varphi\,\mathrm{SWAP}}$ with $\varphi = \gamma(1-\vec v\cdot\vec u)$;
# * forgetting the partner (the partial trace) turns it into a **quantum channel** on one
#   qubit: its Kraus operators, its Choi matrix (positive: the map is completely positive),
#   and its action on Bloch vectors, an affine map that squeezes the Bloch ball;
# * the **Stinespring dilation** of that channel is a two-qubit circuit whose partner qubit
#   is *reset* afterwards, which is how the toolkit runs OILE on a quantum computer;
# * one encounter **entangles** the pair: concurrence $\propto \varphi$, and the purity the
#   neutrino loses grows as $\varphi^2$, which is why $\gamma\to 0$ is the coherent (mean-field) limit.
#
# Conventions (the project's `docs/conventions.md`): a one-body state is
# $\rho = \tfrac12(1 + \mathbf P\cdot\boldsymbol\sigma)$ with Bloch vector $\mathbf P$;
# $\nu_e$ is $\mathbf P = (0,0,1)$, $(\nu_e+\nu_x)/\sqrt2$ is $(1,0,0)$; time is $\mu t$.
#
# Set `OILE_Q_QUICK=1` in the environment to shrink every run (the test suite does).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from qiskit import QuantumCircuit
from qiskit.quantum_info import (
    PTM,
    Choi,
    DensityMatrix,
    Kraus,
    Operator,
    Statevector,
    Stinespring,
    SuperOp,
    concurrence,
    entropy,
    mutual_information,
    partial_trace,
)
from qiskit.visualization import plot_bloch_vector

import oile_q
from oile_q.circuits import SwapPowerGate
from oile_q.encounter import pair_propagator, pair_unitary, swap_map

QUICK = os.environ.get("OILE_Q_QUICK", "0") == "1"
np.set_printoptions(precision=4, suppress=True)
plt.rcParams["figure.dpi"] = 90
print("quick mode" if QUICK else "full size")

# %% [markdown]
# ## 1. The encounter as a unitary
#
# Two neutrinos $a$ and $b$ with velocities $\vec v$, $\vec u$ interact for a time
# $\Delta z$ through
#
# $$V_{ab} = \frac{\mu}{2}(1-\vec v\cdot\vec u)\,\boldsymbol\sigma_a\cdot\boldsymbol\sigma_b .$$
#
# Since $\boldsymbol\sigma_a\cdot\boldsymbol\sigma_b = 2\,\mathrm{SWAP} - 1$, the encounter is,
# up to a global phase, the **SWAP-power gate**
#
# $$U = e^{-iV_{ab}\Delta z} \simeq e^{-i\varphi\,\mathrm{SWAP}} = \cos\varphi\,\mathbb 1 - i\sin\varphi\,\mathrm{SWAP},
# \qquad \varphi = \gamma\,(1-\vec v\cdot\vec u),\quad \gamma = \mu\Delta z .$$
#
# `oile_q.encounter.pair_unitary` gives the exact pair propagator (here without vacuum
# oscillations); `oile_q.circuits.SwapPowerGate` is the same thing as a Qiskit gate.

# %%
phi = 0.3
U = pair_unitary(0.0, 0.0, phi)  # 4x4, particle a is the first tensor factor
print(np.round(U, 4))
assert Operator(U).equiv(Operator(SwapPowerGate(phi)))  # equal up to a global phase
assert Operator(SwapPowerGate(phi)).equiv(Operator(SwapPowerGate(phi).definition))  # its 3-CNOT circuit

# %% [markdown]
# With vacuum oscillations ($H_a = -\tfrac{\omega}{2}\mathbf B\cdot\boldsymbol\sigma_a$, mixing
# angle $\theta$) the propagator is no longer a pure SWAP power, but it is still one 4x4
# unitary. The toolkit computes it in closed form; scipy's matrix exponential agrees:

# %%
wt, theta = 0.7 * 0.2, 0.25  # omega * tau and the mixing angle
U_vac = pair_unitary(wt, wt, 0.2 * 0.7, theta=theta)
U_ref = pair_propagator(0.7, 0.7, 0.7, gamma=0.2, theta=theta)  # expm(-i tau H_ab), g = 0.7
print("closed form vs expm:", np.abs(U_vac - U_ref).max())
assert np.abs(U_vac - U_ref).max() < 1e-12

# %% [markdown]
# ## 2. Trace out the partner: Kraus operators and the Choi matrix
#
# The OILE model keeps only the one-body state after each encounter. With the partner in the
# pure state $|q\rangle$ (Bloch vector $\mathbf Q$),
#
# $$\mathcal E(\rho) = \mathrm{Tr}_b\!\left[U(\rho\otimes|q\rangle\langle q|)U^\dagger\right]
# = \sum_{k=0,1} K_k\,\rho\,K_k^\dagger, \qquad K_k = (\mathbb 1\otimes\langle k|)\,U\,(\mathbb 1\otimes|q\rangle).$$
#
# Two Kraus operators; $\sum_k K_k^\dagger K_k = \mathbb 1$ (trace preserving). Qiskit's
# `Kraus`, `Choi`, `SuperOp` and `PTM` are different faces of the same channel.


# %%
def pure_state(P):
    """The state vector with Bloch vector P (|P| = 1)."""
    th, ph = np.arccos(np.clip(P[2], -1, 1)), np.arctan2(P[1], P[0])
    return np.array([np.cos(th / 2), np.exp(1j * ph) * np.sin(th / 2)])


def encounter_channel(U, Q):
    """The one-body channel of an encounter U (a first) with a partner in the pure state Q."""
    q = pure_state(np.asarray(Q, float))
    return Kraus([np.kron(np.eye(2), np.eye(2)[k][None, :]) @ U @ np.kron(np.eye(2), q[:, None]) for k in (0, 1)])


P, Q = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])  # nu_e meets (nu_e + nu_x)/sqrt 2
E = encounter_channel(U, Q)
choi = Choi(E)
eig = np.linalg.eigvalsh(choi.data)
print("CPTP:", E.is_cptp(), "  Choi eigenvalues:", eig)
assert E.is_cptp()
assert eig.min() > -1e-12  # completely positive: Choi matrix PSD
assert np.sum(eig > 1e-12) == 2  # Choi rank = minimal number of Kraus operators
# trace preserving: tracing the Choi matrix over the output leaves the identity on the input
tp = np.einsum("aibi->ab", choi.data.reshape(2, 2, 2, 2))
assert np.abs(tp - np.eye(2)).max() < 1e-12

# %% [markdown]
# ### The Kraus form *is* the OILE map
#
# Apply the channel $n$ times to a foreground neutrino and compare with the `oile` engine,
# which iterates the closed-form encounter on Bloch vectors. Use a generic case on purpose:
# a tilted partner, $\vec v\cdot\vec u = 0.3$, vacuum oscillations and mixing.

# %%
gamma, vdotu, omega, theta = 0.2, 0.3, 0.7, 0.25
P0, Qg = np.array([0.6, 0.0, 0.8]), np.array([0.0, 0.6, -0.8])
nsteps = 10 if QUICK else 50
sc = oile_q.Scenario.foreground(P0, Qg, gamma=gamma, vdotu=vdotu, omega=omega, theta=theta)
ds = oile_q.run(sc, "oile", steps=nsteps)

wt = omega * gamma  # omega tau with tau = gamma / mu, mu = 1
Eg = encounter_channel(pair_unitary(wt, wt, gamma * (1 - vdotu), theta=theta), Qg)
pauli = [Operator.from_label(s) for s in "XYZ"]
rho = DensityMatrix(0.5 * (np.eye(2) + sum(p * s.data for p, s in zip(P0, pauli))))
P_kraus = [P0]
for _ in range(nsteps):
    rho = rho.evolve(Eg)
    P_kraus.append([rho.expectation_value(s).real for s in pauli])
diff = np.abs(np.array(P_kraus) - ds.P.values[:, 0]).max()
print(f"Kraus iteration vs oile engine over {nsteps} encounters: max |dP| = {diff:.1e}")
assert diff < 1e-12

# %% [markdown]
# ## 3. The channel on the Bloch ball
#
# Every qubit channel acts on Bloch vectors as an affine map $\mathbf P' = T\mathbf P + \mathbf c$;
# $T$ and $\mathbf c$ are the lower blocks of the Pauli transfer matrix $R_{ij} =
# \tfrac12\mathrm{Tr}[\sigma_i\,\mathcal E(\sigma_j)]$ (Qiskit's `PTM`). For the SWAP power
# the map is known in closed form (`oile_q.encounter.swap_map`):
#
# $$\mathbf P' = \cos^2\!\varphi\,\mathbf P + \sin^2\!\varphi\,\mathbf Q + \sin\varphi\cos\varphi\,(\mathbf Q\times\mathbf P),$$
#
# so $T = \cos^2\!\varphi\,\mathbb 1 + \sin\varphi\cos\varphi\,[\mathbf Q]_\times$ and
# $\mathbf c = \sin^2\!\varphi\,\mathbf Q$: the ball shrinks by $\cos^2\varphi$ along $\mathbf Q$ and by
# $\cos\varphi$ across it, turns by $\varphi$ about $\mathbf Q$, and moves towards $\mathbf Q$.

# %%
R = PTM(E).data.real
T, c = R[1:, 1:], R[1:, 0]
Qx = np.array([[0, -Q[2], Q[1]], [Q[2], 0, -Q[0]], [-Q[1], Q[0], 0]])
assert np.abs(T - (np.cos(phi) ** 2 * np.eye(3) + np.sin(phi) * np.cos(phi) * Qx)).max() < 1e-12
assert np.abs(c - np.sin(phi) ** 2 * Q).max() < 1e-12
assert np.abs(R[0] - [1, 0, 0, 0]).max() < 1e-12  # first row (1, 0, 0, 0): trace preserving
sv = np.linalg.svd(T, compute_uv=False)
print("T =\n", T, "\nc =", c, "\nsemi-axes:", sv)
assert np.allclose(sorted(sv), sorted([np.cos(phi) ** 2, np.cos(phi), np.cos(phi)]), atol=1e-12)
# the closed form on a random vector, for good measure
Pr = np.array([0.3, -0.5, 0.4])
assert np.abs(T @ Pr + c - swap_map(Pr, Q, phi)[0]).max() < 1e-12


# %%
def ellipsoid(T, c, n=30):
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, n), np.linspace(0, np.pi, n))
    pts = np.stack([np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v)], -1)
    return pts, pts @ T.T + c


fig = plt.figure(figsize=(11, 4))
for i, ph in enumerate((0.3, 0.8)):
    Ri = PTM(encounter_channel(pair_unitary(0.0, 0.0, ph), Q)).data.real
    ball, img = ellipsoid(Ri[1:, 1:], Ri[1:, 0])
    ax = fig.add_subplot(1, 3, i + 1, projection="3d")
    ax.plot_wireframe(*ball.transpose(2, 0, 1), color="0.8", lw=0.4)
    ax.plot_surface(*img.transpose(2, 0, 1), color="C3", alpha=0.3)
    ax.quiver(0, 0, 0, *(1.3 * Q), color="C0", lw=2)
    ax.text(*(1.45 * Q + [0, 0, 0.15]), "Q", color="C0", fontsize=12, weight="bold")
    ax.view_init(elev=18, azim=-35)
    ax.set(xlabel="x", ylabel="y", zlabel="z", title=f"image of the Bloch ball, phi = {ph}")
    ax.set_box_aspect((1, 1, 1))
ax = fig.add_subplot(1, 3, 3, projection="3d")
plot_bloch_vector(ds.P.values[-1, 0], ax=ax, title=f"oile: P after {nsteps} encounters")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Stinespring dilation: the circuit with a reset
#
# Every channel is a unitary on a larger system followed by discarding part of it
# (Stinespring). Here the dilation is the physics itself: reset the partner qubit and prepare
# it in $|q\rangle$, apply the SWAP-power gate, then **reset** the partner, which traces it out
# and leaves it ready for the next, fresh partner. As a two-qubit channel this circuit is
# $\mathcal R\otimes\mathcal E$, with $\mathcal R(\sigma)=\mathrm{Tr}(\sigma)|0\rangle\langle 0|$
# the reset (Qiskit orders qubits right to left: qubit 0, the neutrino, is the right factor).

# %%
qc = QuantumCircuit(2)
qc.reset(1)  # a fresh partner qubit, whatever it held before
qc.ry(np.pi / 2, 1)  # partner in (nu_e + nu_x)/sqrt 2, Bloch vector Q = x
qc.append(SwapPowerGate(phi), [0, 1])  # the encounter
qc.reset(1)  # forget the partner
reset = Kraus([np.array([[1, 0], [0, 0]]), np.array([[0, 1], [0, 0]])])
gap = np.abs(SuperOp(qc).data - SuperOp(reset).tensor(SuperOp(E)).data).max()
print("circuit channel vs reset (x) E:", gap)
assert gap < 1e-12
# Qiskit's own Stinespring form of E is literally the encounter applied to the partner state:
# the isometry A = U (1 x |q>), output (the neutrino) first, environment (the partner) second
A = U @ np.kron(np.eye(2), pure_state(Q)[:, None])
assert np.abs(Stinespring(E).data - A).max() < 1e-12
display(qc.draw("mpl", scale=0.8))

# %% [markdown]
# ## 5. Entanglement made in one encounter
#
# Start from the product state $|P\rangle|Q\rangle$ with $\mathbf P = \hat z$, $\mathbf Q = \hat x$.
# After the encounter the pair is in a pure, entangled state. For pure one-body inputs its
# concurrence is
#
# $$C = |\sin 2\varphi|\;\frac{1-\mathbf P\cdot\mathbf Q}{2},$$
#
# and because the pair is pure, the neutrino's own state is mixed exactly by that much:
# $1-|\mathbf P'|^2 = C^2$, its entropy is the partner's, and the mutual information is
# $I(a{:}b) = 2S(\rho_a)$. For small $\varphi$, $C\approx\varphi$ and the *purity lost*
# $1-|\mathbf P'| \approx \varphi^2/2$: entanglement is first order, decoherence second order.

# %%
phis = np.geomspace(1e-3, np.pi / 2, 30 if QUICK else 200)
rows = []
for ph in phis:
    circ = QuantumCircuit(2)
    circ.ry(np.pi / 2, 1)
    circ.append(SwapPowerGate(ph), [0, 1])
    psi = Statevector.from_label("00").evolve(circ)
    rho_a = partial_trace(psi, [1])
    Pa = np.array([rho_a.expectation_value(s).real for s in pauli])
    rows.append(
        (
            concurrence(psi),
            mutual_information(psi, base=2),
            entropy(rho_a, base=2),
            1 - np.linalg.norm(Pa),
            1 - np.linalg.norm(Pa) ** 2,
        )
    )
C, I, S, loss, loss2 = np.array(rows).T
assert np.abs(C - np.abs(np.sin(2 * phis)) * (1 - P @ Q) / 2).max() < 1e-10
assert np.abs(loss2 - C**2).max() < 1e-12
assert np.abs(I - 2 * S).max() < 1e-10
small = phis < 1e-2
slope = np.polyfit(np.log(phis[small]), np.log(loss[small]), 1)[0]
print(f"purity lost ~ phi^{slope:.4f} for phi < 0.01")
assert abs(slope - 2) < 1e-2  # 1 - |P'| = phi^2/2 (1 + O(phi^2)): the fitted exponent is 2 to ~1e-4

fig, ax = plt.subplots(figsize=(7, 4.2))
ax.loglog(phis, C, label="concurrence C")
ax.loglog(phis, I, label="mutual information I(a:b) (bits)")
ax.loglog(phis, loss, label="purity lost 1 - |P'|")
ax.loglog(phis, phis**2 / 2, "k:", lw=1, label=r"$\varphi^2/2$")
ax.set(
    xlabel=r"$\varphi = \gamma(1 - \vec v\cdot\vec u)$",
    ylabel="after one encounter",
    ylim=(1e-7, 3),
    title=r"One encounter of $\nu_e$ with $(\nu_e+\nu_x)/\sqrt{2}$",
)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# $C$ peaks at $\varphi=\pi/4$: at $1/2$ here ($\mathbf P\perp\mathbf Q$), at 1 (a Bell state) for
# opposite states $\mathbf P = -\mathbf Q$. At $\varphi = \pi/2$ the encounter is a full SWAP: the
# neutrinos just exchange states and nothing is entangled (exercise 2).
#
# ## Exercises
#
# **Exercise 1.** A partner in the *same* state as the neutrino ($\mathbf Q = \mathbf P$):
# show that the encounter leaves the pair unentangled for every $\varphi$, and that
# $\rho_Q$ is a fixed point of the channel $\mathcal E$.
#
# <details><summary>Solution (idea)</summary>
#
# $|q\rangle|q\rangle$ is symmetric, so $\mathrm{SWAP}|q\rangle|q\rangle = |q\rangle|q\rangle$ and
# $e^{-i\varphi\mathrm{SWAP}}$ only multiplies it by a phase: the product state survives and
# $\mathcal E(\rho_Q) = \rho_Q$. In the formula, $1-\mathbf P\cdot\mathbf Q = 0$. The cell below checks it.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 1
for ph in (0.1, 0.7, 1.3):
    E_same = encounter_channel(pair_unitary(0.0, 0.0, ph), Q)
    rho_q = DensityMatrix(pure_state(Q))
    assert np.abs(rho_q.evolve(E_same).data - rho_q.data).max() < 1e-12
    circ = QuantumCircuit(2)
    circ.ry(np.pi / 2, 0)
    circ.ry(np.pi / 2, 1)
    circ.append(SwapPowerGate(ph), [0, 1])
    psi_same = Statevector.from_label("00").evolve(circ)
    assert 1 - partial_trace(psi_same, [1]).purity().real < 1e-12  # a pure one-body state: no entanglement
print("Q = P: no entanglement, rho_Q is a fixed point")

# %% [markdown]
# **Exercise 2.** Show that at $\varphi=\pi/2$ the channel is the *replacement channel*
# $\rho\mapsto\rho_Q$: compute its Pauli transfer matrix and its Choi matrix, and say why no
# entanglement is made.
#
# <details><summary>Solution (idea)</summary>
#
# $\cos\varphi = 0$, so $T = 0$ and $\mathbf c = \mathbf Q$: every input goes to $\mathbf Q$.
# The Choi matrix $\Lambda = \sum_{ij}|i\rangle\langle j|\otimes\mathcal E(|i\rangle\langle j|)$ (Qiskit's
# definition, input factor first) is $\mathbb 1\otimes\rho_Q$, a product: the channel forgets its
# input entirely. $U = -i\,\mathrm{SWAP}$ maps the product $|P\rangle|Q\rangle$ to the product
# $|Q\rangle|P\rangle$, so $C = |\sin\pi|\cdots = 0$.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 2
E_swap = encounter_channel(pair_unitary(0.0, 0.0, np.pi / 2), Q)
R_swap = PTM(E_swap).data.real
assert np.abs(R_swap[1:, 1:]).max() < 1e-12 and np.abs(R_swap[1:, 0] - Q).max() < 1e-12
rho_Q = 0.5 * (np.eye(2) + Q[0] * pauli[0].data)
choi_swap = Choi(E_swap).data
assert np.abs(choi_swap - np.kron(np.eye(2), rho_Q)).max() < 1e-12
print("phi = pi/2: T = 0, c = Q; Choi = 1 (x) rho_Q")

# %% [markdown]
# **Exercise 3.** Let the partner be *mixed*, $|\mathbf Q| = 0.6$. How many Kraus operators
# does the channel need now? Build them, check the result against the `oile` engine, and
# explain the number.
#
# <details><summary>Solution (idea)</summary>
#
# Write $\eta = \sum_j \lambda_j|q_j\rangle\langle q_j|$ with $\lambda_\pm = (1\pm|\mathbf Q|)/2$.
# Then $K_{jk} = \sqrt{\lambda_j}\,(\mathbb 1\otimes\langle k|)U(\mathbb 1\otimes|q_j\rangle)$: four
# operators, and the Choi matrix has rank 4 (no fewer will do). The environment now has
# four dimensions: the partner and its purifier.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 3
Qm = np.array([0.36, 0.0, 0.48])  # |Q| = 0.6
n_hat = Qm / np.linalg.norm(Qm)
Um = pair_unitary(0.0, 0.0, 0.4)
kraus_ops = []
for sign in (+1, -1):
    lam = (1 + sign * np.linalg.norm(Qm)) / 2
    kraus_ops += [np.sqrt(lam) * K for K in encounter_channel(Um, sign * n_hat).data]
Em = Kraus(kraus_ops)
rank = int(np.sum(np.linalg.eigvalsh(Choi(Em).data) > 1e-12))
dsm = oile_q.run(oile_q.Scenario.foreground(P, Qm, gamma=0.4), "oile", steps=1)
rho1 = DensityMatrix(0.5 * (np.eye(2) + pauli[2].data)).evolve(Em)
P1 = [rho1.expectation_value(s).real for s in pauli]
print("Kraus operators:", len(kraus_ops), " Choi rank:", rank, " vs oile:", np.abs(P1 - dsm.P.values[1, 0]).max())
assert Em.is_cptp() and rank == 4 and np.abs(P1 - dsm.P.values[1, 0]).max() < 1e-12

# %% [markdown]
# **Next:** notebook 2 lets the neutrino meet one fresh partner after another: a *collision
# model*, whose $\gamma\to 0$ limit is a master equation.
