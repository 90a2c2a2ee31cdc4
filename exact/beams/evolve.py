"""The driver of the collective-spin evolution: ``evolve_beams``.

A run checks its arguments, plans its passes over the sectors within the memory limit
(``memory.plan_passes``), then for every pass of output times evolves the kept states chunk by
chunk (``propagators.ChunkPropagators``) and accumulates the observables as the chunks come
(``observe.Stream``), holding the whole state only where the beam-vs-rest entropy needs it.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from oile_q.errors import InputError, InputTypeError, check_array, check_int, check_real, describe

from .._threads import limited_threads
from .basis import CHUNK_STATES, Basis, chunk_ranges, initial_state, sector_plan
from .entropy import ENTROPY_MAX_DIM, Schmidt
from .memory import plan_passes
from .observe import OBSERVABLES, Stream, beam_pairs, new_outputs, record_entropy, record_pass
from .propagators import PROPAGATORS, ChunkPropagators, resolve_propagator
from .structure import BeamStructure

__all__ = ["evolve_beams"]


def evolve_beams(
    struct: BeamStructure,
    times: npt.ArrayLike,
    *,
    tol: float = 1e-12,
    drop: float | None = None,
    observables: Iterable[str] | str = OBSERVABLES,
    chunk_states: int = CHUNK_STATES,
    window: int | None = None,
    entropy_max_dim: int = ENTROPY_MAX_DIM,
    propagator: str = "auto",
    memory_limit: float | None = None,
    progress: Any = None,
    stats: dict | None = None,
) -> dict:
    """Evolve a gas of beams exactly in the product of their symmetric subspaces (``oile_q.exact.beams``).

    Parameters
    ----------
    struct : BeamStructure
        From ``beam_structure(scenario)`` or built directly.
    times : array (T,)
        Non-decreasing mu t >= 0 at which to record.
    tol : float
        Accuracy of the state (Chebyshev: terms with 2 |J_k(r tau)| < tol/100 are left out;
        spectral: all but max(tol/100, 2e-13) of the state is kept, at best 1e-11 per sector).
    drop : float, optional
        Largest summed initial weight of the sectors left out (default (tol/100)^2).
    observables : iterable of {"pairs", "entropy", "energy"}
        Extras: beam-pair two-body observables and <J_g^2>, beam-vs-rest entropies, the energy.
    chunk_states : int
        Chebyshev: consecutive sectors are evolved together up to about this many states.
    window : int, optional
        Output times per pass over the sectors (default: as many as the memory allows).
    entropy_max_dim : int
        Entropy where the Schmidt matrix's smaller side is at most this (<= 2^24 cells); 0: never.
    propagator : {"auto", "chebyshev", "spectral"}
        Chebyshev per chunk, or sector eigenpairs (two beams only); "auto": spectral for two beams.
    memory_limit : float, optional
        Bytes the run may use (default 85% of the available memory).
    progress : object with ``start(total, unit)`` and ``update(done)``, optional
        Told the number of kept states evolved so far (summed over passes).
    stats : dict, optional
        Filled with run figures (dimensions, passes, products or eigenpairs, error bounds, times).

    Returns
    -------
    dict of numpy arrays
        ``times`` (T,); ``P`` (T, G, 3) Bloch vector of a member of each beam, mass basis;
        ``purity`` (T, G); ``S3_total``, ``norm`` (T,); "energy": ``energy`` (T,) <H>/mu;
        "pairs": ``pairs`` (npairs, 2) beam indices, ``rho2`` (T, npairs, 4, 4) two-particle
        density matrices (|up up> first), ``concurrence``, ``mutual_information`` (bits)
        (T, npairs), ``spin_total`` (T, G) <J_g^2>, ``correlations`` (T, G, G, 3, 3)
        <J_g^i J_h^j>; "entropy": ``entropy`` (T, G) bits.

    Raises
    ------
    InputError
        A bad argument (naming it), or a run that does not fit in ``memory_limit``.
    InputTypeError
        ``struct`` is not a BeamStructure.

    Examples
    --------
    >>> import numpy as np
    >>> n = np.array([np.sin(0.2), 0.0, np.cos(0.2)])
    >>> s = BeamStructure(labels=("e", "x"), sizes=np.array([100, 100]), omega=np.array([-0.5, 0.5]),
    ...                   P0_mass=np.array([n, -n]), coupling=np.array([[0, 2.0], [2.0, 0]]))
    >>> out = evolve_beams(s, [0.0, 1.0])
    >>> bool(abs(out["S3_total"][1] - out["S3_total"][0]) < 1e-10)
    True
    """
    times, window, observables, kw = _checked(
        struct, times, tol, drop, observables, chunk_states, window, entropy_max_dim, propagator
    )
    return _evolve(struct, times, window, observables, kw, memory_limit, progress, {} if stats is None else stats)


def _evolve(struct, times, window, observables, kw, memory_limit, progress, stats):
    """The run of ``evolve_beams`` once its arguments are checked: its passes planned within the
    memory limit, then evolved and observed pass by pass."""
    w, spare, plan = plan_passes(struct, times.size, window, memory_limit, pairs="pairs" in observables, **kw)
    stats["memory_estimate_bytes"] = plan["estimate"]
    # One OpenBLAS thread (as oile_q.run does for every engine; repeated here for direct calls):
    # idle BLAS workers spinning on these shared cores slowed the entropy's dense eigensolvers.
    with limited_threads(struct.n), threadpool_limits(limits=1, user_api="blas"):
        run = _Run(struct, times, kw, observables, w, plan, spare, progress, stats)
        for j in range(0, times.size, w):
            run.one_pass(j, times[j : j + w])
        return run.finish()


def _checked(struct, times, tol, drop, observables, chunk_states, window, entropy_max_dim, propagator):
    """(times, window, observables, the options of ``memory_parts``) checked and normalised;
    InputError naming the first bad argument."""
    if not isinstance(struct, BeamStructure):
        raise InputTypeError(f"`struct` must be a BeamStructure; got {describe(struct)}.")
    times = check_array("times", times, (None,))
    if times.size == 0:
        raise InputError("`times` must hold at least one time; got an empty array.")
    if np.any(times < 0) or np.any(np.diff(times) < 0):
        raise InputError(f"`times` must be non-decreasing and >= 0; got {describe(times)}.")
    tol = check_real("tol", tol, positive=True)
    if drop is not None:
        drop = check_real("drop", drop, nonnegative=True)
    chunk_states = check_int("chunk_states", chunk_states, low=1)
    if window is not None:
        window = check_int("window", window, low=1)
    entropy_max_dim = check_int("entropy_max_dim", entropy_max_dim, low=0)
    observables = set((observables,) if isinstance(observables, str) else observables)
    bad = sorted(observables - set(OBSERVABLES))
    if bad:
        raise InputError(f"`observables` must be among {list(OBSERVABLES)}; got {bad[0]!r}.")
    if "entropy" not in observables:
        entropy_max_dim = 0
    if propagator not in PROPAGATORS:
        raise InputError(f"`propagator` must be one of {list(PROPAGATORS)}; got {describe(propagator)}.")
    if propagator == "spectral" and struct.n_beams != 2:
        raise InputError(
            f"`propagator` 'spectral' needs exactly two beams (tridiagonal sectors); got "
            f"{struct.n_beams}. Use 'chebyshev'."
        )
    propagator = resolve_propagator(struct, propagator)
    kw = dict(tol=tol, drop=drop, chunk_states=chunk_states, entropy_max_dim=entropy_max_dim, propagator=propagator)
    return times, window, observables, kw


class _Run:
    """One run of ``evolve_beams``: the basis, the chunk propagators, the outputs and the clocks."""

    def __init__(self, struct, times, kw, observables, w, plan, spare, progress, stats):
        t_build = _time.perf_counter()
        sectors, _, dropped = sector_plan(struct, tol=kw["tol"], drop=kw["drop"])
        basis = Basis(struct.sizes, sectors)
        spectral = kw["propagator"] == "spectral"
        self.chunks = chunk_ranges(basis, 1 if spectral else kw["chunk_states"])  # spectral: one sector a chunk
        passes = -(-times.size // w)
        self.props = ChunkPropagators(
            struct,
            basis,
            self.chunks,
            initial_state(struct, basis),
            kw["tol"],
            kw["propagator"],
            passes=passes,
            spare=spare,
            provision=plan["eig_provision"],
        )
        self.schmidt = {g: Schmidt(basis, g) for g in plan["entropy_beams"]}
        self.pairs = beam_pairs(struct.sizes)
        self.struct, self.basis, self.observables = struct, basis, observables
        self.progress, self.stats = progress, stats
        stats.update(
            {
                "method": "beams",
                "propagator": kw["propagator"],
                "beams": basis.G,
                "dimension_full": struct.full_dimension,
                "dimension": basis.dim,
                "sectors": int(sectors.size),
                "sector_range": [int(sectors.min()), int(sectors.max())],
                "dropped_weight": dropped,
                "chunks": len(self.chunks),
                "largest_chunk": int(max(h - l for l, h in self.chunks)),
                "passes": passes,
                "outputs_per_pass": int(w),
                "entropy_beams": list(plan["entropy_beams"]),
                "build_s": round(_time.perf_counter() - t_build, 4),
            }
        )
        self.out = new_outputs(times, basis.G, self.pairs, observables)
        if progress is not None:
            progress.start(basis.dim * passes, "state")
        self.t_prop = self.t_obs = 0.0
        self.done = 0

    def one_pass(self, j: int, ts: np.ndarray) -> None:
        """Evolve every chunk to the output times ``ts`` (outputs j, j + 1, ...) and record them."""
        stream = Stream(self.basis, self.chunks, ts.size, "pairs" in self.observables, "energy" in self.observables)
        full = np.empty((ts.size, self.basis.dim), dtype=np.complex128) if self.schmidt else None
        for c, (lo, hi) in enumerate(self.chunks):
            s = _time.perf_counter()
            X, H = self.props.states(c, ts, j == 0)
            self.t_prop += _time.perf_counter() - s
            s = _time.perf_counter()
            if full is not None:
                full[:, lo:hi] = X
            stream.add(c, X, H)
            self.t_obs += _time.perf_counter() - s
            self.done += hi - lo
            if self.progress is not None:
                self.progress.update(self.done)
        s = _time.perf_counter()
        stream.finish()
        self.props.end_pass(float(ts[-1]))
        record_pass(self.out, j, stream, self.struct.sizes, self.pairs)
        if full is not None:
            record_entropy(self.out, j, full, self.schmidt)
        self.t_obs += _time.perf_counter() - s

    def finish(self) -> dict:
        """The outputs; the propagators' figures and the times go to the stats."""
        self.stats.update(self.props.stats())
        self.stats.update({"evolve_s": round(self.t_prop, 4), "observe_s": round(self.t_obs, 4)})
        return self.out
