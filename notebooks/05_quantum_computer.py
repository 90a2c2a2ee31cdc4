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
# # 5. On a quantum computer
#
# **What you will learn** (about 20 minutes)
#
# * the foreground collision model of notebook 2 as a Qiskit circuit (SWAP-power encounter,
#   partner **reset** and re-prepared), exact on Aer's density-matrix simulator;
# * what **shots** do: Bloch vectors from three Pauli measurements, with binomial error
#   bars, and a $\chi^2$ check that the scatter is what the error bars say;
# * what **transpiling** for an IBM device costs per encounter: 3 two-qubit gates for a SWAP
#   power, 2 for the *isometry* that uses the fact that the partner is fresh and pure;
# * that **hardware noise is decoherence too**, and two ways to tell it from OILE's:
#   a null experiment whose ideal answer does not move, and the opposite scaling of the
#   two with the number of encounters at fixed $\mu t$;
# * what **error mitigation** could recover (in words: the toolkit has no mitigation yet).
#
# No IBM account is needed: "fake" devices are local simulators with the calibrated noise
# model of a real device. Set `OILE_Q_QUICK=1` to shrink every run.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from qiskit import QuantumCircuit
from qiskit.quantum_info import SuperOp
from scipy.stats import chi2

import oile_q
from oile_q.circuits import (
    EncounterGate,
    EncounterIsometryGate,
    encounter_stats,
    fake_backend,
    foreground_circuit,
    pass_manager,
)

QUICK = os.environ.get("OILE_Q_QUICK", "0") == "1"
SHOTS = 4000
np.set_printoptions(precision=4, suppress=True)
plt.rcParams["figure.dpi"] = 90

# %% [markdown]
# ## 1. The collision model as a circuit
#
# Qubit 0 is the foreground neutrino, qubit 1 the current partner. Each encounter:
# reset qubit 1, prepare it in $\mathbf Q$, apply the encounter gate (here $U = e^{-i\gamma\,\mathrm{SWAP}}$
# up to a phase, $\vec v\cdot\vec u = 0$). The reset *is* the partial trace of the OILE map:
# the partner's correlations with the neutrino are thrown away with it.

# %%
sc = oile_q.Scenario.foreground([0, 0, 1], [1, 0, 0], gamma=0.2)  # paper I Fig. 1 set-up
spec = foreground_circuit(sc, 3)
print(f"{spec.num_qubits} qubits, {spec.encounters} encounters, {spec.resets} resets")
display(spec.circuit.draw("mpl", scale=0.7))

# %%
steps = 30
exact = oile_q.run(sc, "circuit", steps=steps)  # backend "aer": exact density matrix
ref = oile_q.run(sc, "oile", steps=steps)
d = np.abs(exact.P.values - ref.P.values).max()
print(f"circuit on exact Aer vs oile, {steps} encounters: {d:.1e}  (aer method: {exact.attrs.get('aer_method')})")
assert d < 1e-10

# %% [markdown]
# ## 2. Shots and error bars
#
# A real device returns counts. Measuring qubit 0 in the $X$, $Y$ and $Z$ bases, $S$ shots each,
# estimates each component with a binomial standard error:
#
# $$\hat P_i = \frac{n_i(+) - n_i(-)}{S},\qquad \sigma_i = \sqrt{\frac{1-P_i^2}{S}} .$$
#
# Each recorded time costs its own three circuits (a measurement ends the evolution), so we
# ask only for a few times. If the error bars are honest,
# $\chi^2 = \sum_i (\hat P_i - P_i^{\rm ideal})^2/\sigma_i^2$ follows a $\chi^2$ distribution with one degree of
# freedom per measured component.

# %%
rec = np.array([1, 2, 3, 4, 6] if QUICK else [0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6])
shots = oile_q.run(sc, "circuit", times=rec, backend="aer-shots", shots=SHOTS, seed_simulator=11)
P, err, ideal = shots.P.values[:, 0], shots.P_stderr.values[:, 0], shots.P_ideal.values[:, 0]
ok = err > 0  # components measured with certainty carry no information
z = (P - ideal)[ok] / err[ok]
chisq, dof = float((z**2).sum()), int(ok.sum())
lo, hi = chi2.ppf([0.0005, 0.9995], dof)
print(
    f"chi^2 = {chisq:.1f} for {dof} components (99.9 % interval {lo:.1f} - {hi:.1f}); max |z| = {np.abs(z).max():.2f}"
)
assert lo < chisq < hi

dense = oile_q.run(sc, "oile", t_max=6.0)
fig, ax = plt.subplots(figsize=(8, 4))
for i, name in enumerate("xyz"):
    (line,) = ax.plot(dense.time, dense.P[:, 0, i], "-", lw=1, label=f"$P_{name}$ exact")
    ax.errorbar(
        shots.time,
        P[:, i],
        yerr=err[:, i],
        fmt="o",
        ms=4,
        capsize=3,
        color=line.get_color(),
        label=f"$P_{name}$, {SHOTS} shots/basis",
    )
ax.set(xlabel=r"$\mu t$", title="Foreground neutrino from measured counts (Aer, no noise)")
ax.legend(fontsize=8, ncol=2)
plt.show()

# %% [markdown]
# ## 3. Transpiling for an IBM device
#
# A device runs only its native gates (e.g. `cx`, `rz`, `sx`, `x` on the 5-qubit
# *fake_manila*) on its coupling map. A SWAP power $e^{-i\varphi\mathrm{SWAP}}$ with $\varphi\ne0 \bmod \pi$
# needs **three** CNOTs: no compiler can do better (its Weyl coordinates lie on the SWAP line).
# But the OILE map never needs the full gate: the partner always starts in the *same pure*
# state and is discarded afterwards, so only the isometry $|\psi\rangle\mapsto U(|\psi\rangle|q\rangle)$ matters,
# and among its completions there is one with **two** CNOTs (`EncounterIsometryGate`). Same
# channel, fewer noisy gates.

# %%
backend = fake_backend("fake_manila")
pm = pass_manager(backend)
phi = 0.2
gates = {
    "split": EncounterGate(phi, 0.0, 0.0, 0.0, "split"),
    "exact": EncounterGate(phi, 0.0, 0.0, 0.0, "exact"),
    "isometry": EncounterIsometryGate(phi, 0.0, 0.0, 0.0, [1.0, 0.0, 0.0]),
}
counts = {}
for mode, gate in gates.items():
    st = encounter_stats(gate, pm, fresh_partner=(mode == "isometry"))
    counts[mode] = st["two_qubit"]
    print(f"{mode:9s}: {st['two_qubit']} two-qubit gates, depth {st['depth']}, {st['ops']}")
assert counts["split"] == counts["exact"] == 3 and counts["isometry"] == 2

# same channel on the neutrino? Compare the two circuits as channels (Qiskit's SuperOp treats reset exactly)
iso_qc = QuantumCircuit(2)
iso_qc.reset(1)
iso_qc.append(gates["isometry"], [0, 1])
iso_qc.reset(1)
full_qc = QuantumCircuit(2)
full_qc.reset(1)
full_qc.ry(np.pi / 2, 1)  # partner in Q = x
full_qc.append(gates["exact"], [0, 1])
full_qc.reset(1)
gap = np.abs(SuperOp(iso_qc).data - SuperOp(full_qc).data).max()
print(f"isometry vs full encounter, as channels: {gap:.1e}")
assert gap < 1e-10
display(pm.run(iso_qc.remove_final_measurements(inplace=False)).draw("mpl", idle_wires=False, scale=0.7))

# %% [markdown]
# ## 4. Hardware noise is decoherence too
#
# Now run with the device's noise model (`backend="aer-noise:fake_manila"`: Aer with the
# calibrated gate, readout and relaxation errors of the device). The Bloch vector shrinks,
# just as OILE decoherence shrinks it. How to tell the two apart?
#
# **A null experiment.** Let the foreground start in the background state, $\mathbf P_0 = \mathbf Q$.
# Then $|q\rangle|q\rangle$ is symmetric and every encounter leaves it alone (notebook 1, exercise 1):
# the ideal answer does not move, for any $\gamma$ and any number of encounters. The gates
# are the same as in a real run, so any decay is the hardware's own. (Why not simply $\gamma = 0$?
# A zero-strength encounter is the identity, and the transpiler deletes it: no CNOT would be
# left to be noisy. The first line of the cell checks that.)


# %%
def length(P, err):
    """|P| and its standard error, sqrt(sum_i (P_i sigma_i)^2) / |P| (independent components)."""
    n = np.linalg.norm(P, axis=-1)
    return n, np.sqrt(((P * err) ** 2).sum(-1)) / n


assert encounter_stats(EncounterGate(0.0, 0.0, 0.0, 0.0, "exact"), pm)["two_qubit"] == 0  # gamma = 0: nothing left
x = [1.0, 0.0, 0.0]
null = oile_q.Scenario.foreground(x, x, gamma=0.2)
n_enc = np.array([1, 4, 16] if QUICK else [1, 2, 4, 8, 16, 32])
noisy_null = {}
for mode in ("exact", "isometry"):
    r = oile_q.run(
        null,
        "circuit",
        steps=int(n_enc[-1]),
        times=n_enc * 0.2,
        backend="aer-noise:fake_manila",
        shots=SHOTS,
        seed_simulator=5,
        compile=mode,
    )
    assert np.abs(r.P_ideal.values[:, 0] - x).max() < 1e-12  # the ideal answer does not move
    noisy_null[mode] = length(r.P.values[:, 0], r.P_stderr.values[:, 0])
    print(f"{mode:9s}: |P| after {n_enc.tolist()} encounters = {noisy_null[mode][0]}")
norm, sig = noisy_null["exact"]
assert norm[-1] < norm[0] - 5 * np.hypot(sig[0], sig[-1])  # decay with depth, far beyond shot noise

# %% [markdown]
# Two things to read off: the line does not start at 1 (at one encounter $|\mathbf P|\approx0.95$: mostly
# *readout* error, which does not grow with depth) and it falls with the number of encounters
# (gate errors and relaxation, which do). On this noise model neither compilation is
# consistently better: the 2-CNOT isometry and the 3-CNOT gate differ by a few standard
# errors, with a sign that changes with depth. Saving one CNOT per encounter is a small effect
# next to the rest of this noise model.
#
# **Opposite scalings.** Fix the physical time $\mu t = 2$ and refine the step: smaller $\gamma$
# means more, weaker encounters. OILE decoherence *decreases* (per unit time it is $\propto\gamma$),
# hardware decoherence *increases* (it counts gates).

# %%
gam_list = [0.4, 0.2, 0.1] if QUICK else [0.4, 0.2, 0.1, 0.05]
rows = []
for gam in gam_list:
    s = oile_q.Scenario.foreground([0, 0, 1], x, gamma=gam)
    r = oile_q.run(
        s, "circuit", times=[2.0], backend="aer-noise:fake_manila", shots=SHOTS, seed_simulator=5, compile="isometry"
    )
    rows.append(
        (
            gam,
            int(r.attrs["encounters"]),
            np.linalg.norm(r.P_ideal.values[-1, 0]),
            *length(r.P.values[-1, 0], r.P_stderr.values[-1, 0]),
        )
    )
gam_a, enc_a, ideal_a, noisy_a, sig_a = map(np.array, zip(*rows))
for row in rows:
    print("gamma = {:.2f}: {:3d} encounters, |P| ideal {:.3f}, noisy {:.3f} +- {:.3f}".format(*row))
assert np.all(np.diff(ideal_a) > 0)  # OILE: weaker encounters, less decoherence
deficit = ideal_a - noisy_a
assert deficit[-1] > deficit[0] + 5 * np.hypot(sig_a[0], sig_a[-1])  # hardware: more gates, more decoherence

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
for mode, (nm, sg) in noisy_null.items():
    ax1.errorbar(n_enc, nm, yerr=sg, fmt="o-", capsize=3, label=f"null experiment, compile = {mode}")
ax1.axhline(1, color="k", lw=0.8, label="ideal (for every n)")
ax1.set(
    xscale="log",
    xlabel="encounters",
    ylabel="|P|",
    title="Null experiment (P0 = Q) on fake_manila noise:\nonly the hardware decoheres",
)
ax1.set_xticks(n_enc, [str(k) for k in n_enc])
ax1.minorticks_off()
ax1.legend(fontsize=8)
ax2.plot(enc_a, ideal_a, "o-", label="ideal OILE (exact simulator)")
ax2.errorbar(enc_a, noisy_a, yerr=sig_a, fmt="s-", capsize=3, label="fake_manila noise")
for g_, e_, y_ in zip(gam_a, enc_a, noisy_a):
    ax2.annotate(f"gamma = {g_:g}", (e_, y_), textcoords="offset points", xytext=(4, -12), fontsize=8)
ax2.set(
    xscale="log",
    xlabel="encounters to reach mu t = 2",
    ylabel="|P| at mu t = 2",
    title="Same mu t, finer steps:\nOILE and hardware decoherence scale oppositely",
)
ax2.set_xticks(enc_a, [str(k) for k in enc_a])
ax2.minorticks_off()
ax2.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 5. What error mitigation would recover
#
# oile-q has no error-mitigation feature yet (the hardware issue has not landed), so this
# section is prose only. What the standard tools would do here:
#
# * **Readout mitigation** (e.g. M3, or inverting a measured assignment matrix) removes the
#   depth-independent offset seen at one encounter above, about 0.05 in $|\mathbf P|$ on
#   fake_manila. It is cheap and nearly always worth it.
# * **Zero-noise extrapolation** runs the same circuit with the noise amplified (gate folding:
#   $U\to UU^\dagger U$) and extrapolates to zero noise. The null experiment is the natural
#   calibration: the extrapolated $|\mathbf P|$ must come back to 1 there. It recovers most of the
#   depth-dependent decay for shallow circuits, at the price of larger error bars.
# * **Probabilistic error cancellation** inverts a learned noise model exactly on average; its
#   shot cost grows exponentially with the number of noisy gates, so it suits the few-encounter
#   regime only. Pauli twirling and dynamical decoupling make the noise simpler and smaller
#   before any of these (IBM's runtime offers them server-side on hardware).
#
# What no mitigation can recover: the *model* error of OILE itself (the product-state ansatz,
# notebook 4) and shot noise. A fair test of a mitigated run is therefore the exact simulator's
# `P_ideal`, within error bars that include the mitigation's own variance.
#
# ## Exercises
#
# **Exercise 1.** How many shots per basis give every component to $\pm0.01$ (one standard
# error)? Check with the `aer-shots` backend.
#
# <details><summary>Solution (idea)</summary>
#
# $\sigma_i = \sqrt{(1-P_i^2)/S} \le 1/\sqrt S$, so $S = 10^4$ guarantees $\pm0.01$ for every state; near
# $|P_i| = 1$ far fewer do. The cell reads the error bars off a run.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 1
r = oile_q.run(sc, "circuit", times=[1.0, 2.0], backend="aer-shots", shots=10_000, seed_simulator=3)
print("standard errors with 10^4 shots:\n", r.P_stderr.values[:, 0])
assert r.P_stderr.values.max() <= 0.01 + 1e-12
assert np.allclose(r.P_stderr.values[:, 0], np.sqrt((1 - r.P.values[:, 0] ** 2) / 10_000))

# %% [markdown]
# **Exercise 2.** Some devices cannot reset a qubit mid-circuit. Run the collision model with
# `reset=False` (a fresh qubit per encounter). How many qubits does it need for $n$ encounters,
# and does it still reproduce `oile` on the exact simulator?
#
# <details><summary>Solution (idea)</summary>
#
# $n + 1$ qubits: one neutrino and $n$ partners that are never reused. Tracing them out at the
# end is the same as resetting them along the way, so the result is identical.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 2
fresh = oile_q.run(sc, "circuit", steps=8, reset=False)
print(
    "qubits:",
    fresh.attrs["qubits"],
    " resets:",
    fresh.attrs["resets"],
    f" vs oile: {np.abs(fresh.P.values - ref.P.values[:9]).max():.1e}",
)
assert fresh.attrs["qubits"] == 9 and np.abs(fresh.P.values - ref.P.values[:9]).max() < 1e-10

# %% [markdown]
# **Exercise 3.** Model the null experiment's decay as an offset times a constant factor per
# encounter, $|\mathbf P_n| \approx a f^n$. Fit $a$ and $f$. What is the readout part, what is the
# per-encounter part, and how many encounters can one afford before the hardware has eaten
# more purity than the physics ($1-|\mathbf P|$ of the ideal run at $\gamma = 0.2$)?
#
# <details><summary>Solution (idea)</summary>
#
# Fit $\log|\mathbf P_n|$ linearly in $n$: $a\approx0.95$-$0.98$ (readout), $1-f$ of the order of 1-2 % per
# encounter on this device. The ideal foreground run loses purity at a rate $\approx\gamma^2/2$ per
# encounter at first (notebook 1): for $\gamma = 0.2$, 2 %, so the hardware's share is
# comparable from the very start: mitigation, or the 2-CNOT isometry, matters.
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution to exercise 3
norm, sig = noisy_null["isometry"]
slope_n, log_a = np.polyfit(n_enc, np.log(norm), 1, w=norm / sig)
a, f = np.exp(log_a), np.exp(slope_n)
print(f"a = {a:.3f} (readout etc.), f = {f:.4f} per encounter (1 - f = {100 * (1 - f):.2f} %)")
assert 0.8 < a <= 1.02 and 0.9 < f < 1.0
