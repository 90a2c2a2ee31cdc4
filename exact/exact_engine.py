"""The ``exact`` engine: the closed all-to-all Hamiltonian of docs/conventions.md,

    H = sum_a -(omega_a/2) B.sigma_a + mu/(N-1) sum_{a<b} (g_ab/2) sigma_a.sigma_b,

evolved exactly from a product initial state (mixed one-body states by their exact branch
decomposition). Methods: "chebyshev" (matrix-free on the 2^N amplitudes), "expm" (QuSpin
sectors), see ``oile_q.exact.evolve``; and "beams" (the collective spins of groups that share
velocity, vacuum frequency and a pure initial state, in prod_g (N_g + 1) states), see
``oile_q.exact.beams``. "auto" (the default) takes "beams" when the scenario has beam structure
and its memory estimate is the smaller one, else "chebyshev"; the result records the method
used (``attrs["method"]`` and the ``method`` option). The schedule only sets the time grid
(odd N is fine).
"""

from __future__ import annotations

import math
import time as _time
from importlib.util import find_spec

import numpy as np

from oile_q.conventions import mass_to_flavor
from oile_q.engine import Cost, Engine, Option, Output, Request
from oile_q.errors import InputError, check_size

from ._common import COMMON_OPTIONS, Observer, check_pairs, observables, product_branches
from ._threads import limited_threads
from .memory import check_memory, estimate_bytes, memory_limit

__all__ = ["ExactEngine"]

_BEAM_ONLY = ("beams_propagator", "entropy_max_dim")


class ExactEngine(Engine):
    """The ``exact`` engine: the closed all-to-all Hamiltonian evolved exactly (module docstring).

    Engines take no constructor parameters: ``oile_q.run(scenario, "exact", **options)`` creates
    one through the registry and passes the validated ``options`` (declared below: ``method``,
    ``basis``, ``builder``, ``tol``, ``energy``, ``beams_propagator``, ``entropy_max_dim`` and the
    shared ``pairs``, ``mixed``, ``max_branches``, ``memory_limit``) in the request.

    Examples
    --------
    >>> from oile_q import Scenario, run
    >>> sc = Scenario.from_groups([dict(name="e", count=2, flavor="e", omega=0.5),
    ...                            dict(name="x", count=2, flavor="x", omega=-0.5)], gamma=0.1, theta=0.1, seed=1)
    >>> ds = run(sc, "exact", t_max=1.0)
    >>> ds.attrs["method"], bool(abs(ds.norm.values - 1).max() < 1e-12)
    ('chebyshev', True)
    """

    name = "exact"
    summary = (
        "the closed all-to-all many-body Hamiltonian evolved exactly (Chebyshev, QuSpin sectors, "
        "or the collective spins of beams)"
    )
    grid = "continuous"
    supports = frozenset({"ensemble", "odd_n", "poisson"})
    options = (
        Option(
            "method",
            "auto (beams when every group is a beam and that is cheaper, else chebyshev), "
            "chebyshev (matrix-free, full vector), expm (QuSpin sector matrices) or beams (collective spins)",
            default="auto",
            kind="choice",
            choices=("auto", "chebyshev", "expm", "beams"),
        ),
        Option(
            "basis",
            "method expm: sectors (default) or one full-basis matrix",
            kind="choice",
            choices=("sectors", "full"),
        ),
        Option(
            "builder",
            "method expm: fast (numba sector builder, default) or quspin (QuSpin's generic hamiltonian)",
            kind="choice",
            choices=("fast", "quspin"),
        ),
        Option(
            "tol",
            "series truncation (chebyshev, beams: default 1e-12) or QuSpin's Taylor tolerance (expm)",
            kind="float",
            positive=True,
        ),
        Option("energy", "record <H> (a conservation check)", default=True, kind="bool"),
        Option(
            "beams_propagator",
            "method beams: auto (spectral for two beams, else chebyshev), spectral "
            "(sector eigenpairs in the state's energy window; two beams) or chebyshev",
            kind="choice",
            choices=("auto", "spectral", "chebyshev"),
        ),
        Option(
            "entropy_max_dim",
            "method beams: beam-vs-rest entropy where the smaller side of the Schmidt "
            "matrix is at most this (default 1024; 0: never)",
            kind="int",
            low=0,
        ),
    ) + COMMON_OPTIONS

    # ------------------------------------------------------------------ method choice

    def _resolve(self, request):
        """(method, BeamStructure or None): "auto" resolved, the beam structure for "beams"."""
        from .beams import beam_structure, sector_plan

        o = request.options
        method = o["method"]
        if method == "beams":
            return "beams", beam_structure(request.scenario)  # InputError naming the group that is no beam
        if method != "auto":
            return method, None
        try:
            struct = beam_structure(request.scenario)
        except InputError:
            return "chebyshev", None
        # Work per Hamiltonian product: non-zeros on the evolved space (the kept collective states,
        # 1 + G(G-1) per row, vs 2^N amplitudes, ~ 1 + N(N-1)/4 per row); the cheaper one unless
        # only the other fits in memory.
        n, G = request.scenario.n, struct.n_beams
        _, dims, _ = sector_plan(struct, tol=self._beams_kw(o)["tol"])
        beams_cheaper = math.log2(float(dims.sum()) * (1 + G * (G - 1))) < n + math.log2(1 + n * (n - 1) / 4)
        budget = memory_limit(o["memory_limit"])
        fits_beams = self._beams_bytes(struct, request) <= budget
        fits_generic = n <= 64 and estimate_bytes(n, "exact", method="chebyshev") <= budget
        if fits_beams and (beams_cheaper or not fits_generic):
            return "beams", struct
        return "chebyshev", None

    @staticmethod
    def _beams_kw(o):
        return dict(
            tol=1e-12 if o["tol"] is None else o["tol"],
            entropy_max_dim=1024 if o["entropy_max_dim"] is None else o["entropy_max_dim"],
            propagator=o["beams_propagator"] or "auto",
        )

    def _beams_bytes(self, struct, request, outputs=1):
        from .beams import estimate_beams_bytes

        return estimate_beams_bytes(struct, outputs=outputs, **self._beams_kw(request.options))

    # ------------------------------------------------------------------ checks and estimates

    def check(self, request: Request) -> None:
        """Options that do not go together, QuSpin for "expm", the beam structure for "beams",
        and the memory guard of the method "auto" resolves to, before any work.

            The request may run: its options go together and its memory fits.

        Raises
        ------
        InputError
            One line naming the option or the limit.
        """
        opts = request.options
        if opts["method"] != "expm" and (opts["basis"] is not None or opts["builder"] is not None):
            raise InputError("`basis` and `builder` apply to method 'expm' only.")
        check_pairs(opts["pairs"], request.scenario.n)
        if opts["method"] == "expm":
            if find_spec("quspin") is None:
                raise InputError(
                    "`method` 'expm' needs QuSpin, which cannot be imported here (pip install "
                    "'oile-q[exact]'); method 'chebyshev' needs nothing more."
                )
        given = [name for name in _BEAM_ONLY if opts[name] is not None]
        if given and opts["method"] in ("chebyshev", "expm"):
            raise InputError(f"`{given[0]}` applies to method 'beams' (or 'auto') only; got method {opts['method']!r}.")
        method, struct = self._resolve(request)
        if method != "beams":
            self._memory(request, method)  # the memory guard, before any work
            return
        self._beams_guard(request, struct)

    def _beams_guard(self, request, struct):
        """Memory guard of method "beams" (one line, before any work); returns the bytes needed."""
        o = request.options
        if o["beams_propagator"] == "spectral" and struct.n_beams != 2:
            raise InputError(
                f"`beams_propagator` 'spectral' needs exactly two beams (tridiagonal sectors); got "
                f"{struct.n_beams}. Use 'chebyshev' or 'auto'."
            )
        budget = memory_limit(o["memory_limit"])
        need = self._beams_bytes(struct, request)
        if need > budget:
            raise InputError(
                f"`N` = {struct.n} in {struct.n_beams} beams needs an estimated {need / 1e9:.3g} GB for "
                f"engine exact (method 'beams'), more than the {budget / 1e9:.3g} GB memory limit; use fewer "
                "particles, fewer beams or a larger `tol`."
            )
        npairs = len(self._pair_plan(request, struct)[0])
        check_size(
            "pairs",
            16.0 * 4 * npairs * len(request.times),
            f"{npairs} pairs at {len(request.times)} times",
            hint="leave `pairs` unset (one representative pair per pair of beams)",
            limit=o["memory_limit"],
        )
        return need

    def _memory(self, request, method):
        o = request.options
        return check_memory(
            request.scenario.n,
            "exact",
            method=method,
            basis=o["basis"] or "sectors",
            builder=o["builder"] or "fast",
            limit=o["memory_limit"],
        )

    def estimate(self, request: Request) -> Cost:
        """Seconds and bytes of the run (a cost model calibrated with the benchmarks).

        Returns
        -------
        Cost
        """
        o = request.options
        n = request.scenario.n
        t_max = max(float(request.times[-1]), 0.1)
        method, struct = self._resolve(request)
        if method == "beams":
            return self._beams_cost(request, struct, t_max)
        need = estimate_bytes(n, "exact", method=method, basis=o["basis"] or "sectors", builder=o["builder"] or "fast")
        # cost ~ 2^N N mu t, calibrated with benchmarks/bench_exact.py (N = 20, mu t = 50)
        seconds = 90.0 * 2.0 ** (n - 20) * (n / 20) * t_max / 50.0
        return Cost(
            seconds=seconds,
            memory_bytes=need,
            what=f"a 2^{n} state vector to mu t = {t_max:.3g}",
            hint="fewer particles (N <= 20 runs in minutes)",
        )

    def _beams_cost(self, request, struct, t_max):
        """Seconds and bytes of method "beams" from the kept dimension D and the outputs T: spectral
        (two beams), a time per kept state for the eigenpairs; Chebyshev, a time per non-zero and
        product, with r ~ (1/(N-1)) sum_{g<h} g_gh N_g N_h / 2 + sum_g |omega_g| N_g / 2 products
        per unit mu t; both plus a time per state and output. The coefficients are calibrated with
        benchmarks/bench_beams.py."""
        from .beams import sector_plan
        from .beams.propagators import resolve_propagator

        kw = self._beams_kw(request.options)
        _, dims, _ = sector_plan(struct, tol=kw["tol"])
        D = float(dims.sum())
        T = len(request.times)
        G = struct.n_beams
        prop = resolve_propagator(struct, kw["propagator"])
        if prop == "spectral":
            seconds = 1.1e-4 * D + 4e-7 * D * T
        else:
            n = struct.n
            r = sum(
                struct.coupling[g, h] * struct.sizes[g] * struct.sizes[h] for g in range(G) for h in range(g + 1, G)
            ) / (2.0 * max(n - 1, 1))
            r += float(np.sum(np.abs(struct.omega) * struct.sizes)) / (2.0 * struct.mu)
            seconds = 6e-9 * (1 + G * (G - 1)) * D * max(r, 1.0) * t_max + 4e-7 * D * T
        budget = memory_limit(request.options["memory_limit"])
        need = min(self._beams_bytes(struct, request, outputs=T), max(budget, self._beams_bytes(struct, request)))
        return Cost(
            seconds=seconds,
            memory_bytes=need,
            what=f"{G} beams, {D:.3g} kept collective states ({prop}) to mu t = {t_max:.3g}",
            hint="fewer particles or beams",
        )

    # ------------------------------------------------------------------ run

    def _pair_plan(self, request, struct):
        """(particle pairs, their beam-pair indices into evolve_beams' ``pairs``): the given
        ``pairs`` ('all': every particle pair), or one representative pair per pair of beams
        (first member of g with the first of h, or the second of g for h = g)."""
        from .beams.observe import beam_pairs

        index = {gh: k for k, gh in enumerate(beam_pairs(struct.sizes))}
        given = request.options["pairs"]
        if given is None:
            pairs = []
            for (g, h), _ in index.items():
                a = int(struct.members[g][0])
                b = int(struct.members[h][1] if g == h else struct.members[h][0])
                pairs.append((a, b))
        else:
            pairs = check_pairs(given, struct.n)
        beam_of = np.empty(struct.n, dtype=np.int64)
        for g, idx in enumerate(struct.members):
            beam_of[idx] = g
        which = [index[(int(min(beam_of[a], beam_of[b])), int(max(beam_of[a], beam_of[b])))] for a, b in pairs]
        return pairs, which

    def run(self, request: Request) -> Output:
        """Evolve the request's scenario with the method "auto" resolves to.

        Returns
        -------
        Output
            P (flavor basis), the extras of the README, the method's figures in ``stats``, and
            the method used in ``attrs`` and in the recorded ``options``.
        """
        method, struct = self._resolve(request)
        if method == "beams":
            return self._run_beams(request, struct)
        return self._run_generic(request, method)

    def _run_beams(self, request, struct):
        from .beams import evolve_beams

        o = request.options
        self._beams_guard(request, struct)
        kw = self._beams_kw(o)
        obs = ["pairs"] + (["energy"] if o["energy"] else []) + (["entropy"] if kw["entropy_max_dim"] > 0 else [])
        stats = {"branches": 1}
        out = evolve_beams(
            struct,
            request.times,
            tol=kw["tol"],
            observables=obs,
            propagator=kw["propagator"],
            entropy_max_dim=kw["entropy_max_dim"],
            memory_limit=o["memory_limit"],
            progress=request.progress,
            stats=stats,
        )
        P_mass = struct.broadcast(out["P"])
        ex = _beam_extras(struct, out, P_mass)
        pairs, which = self._pair_plan(request, struct)
        if pairs:
            ex.update(_beam_pair_extras(out, pairs, which, request.scenario.group))
        return Output(
            P=mass_to_flavor(P_mass, request.scenario.theta),
            extras=ex,
            stats=stats,
            attrs={"method": "beams"},
            options=self._recorded(o, "beams"),
        )

    def _recorded(self, options, method):
        """The options a result records (so that ``rerun`` repeats it), with the method used."""
        recorded = {name: value for name, value in options.items() if value is not None and self.option(name).record}
        recorded["method"] = method
        return recorded

    def _run_generic(self, request, method):
        from . import _kernels
        from .evolve import chebyshev_evolve, expm_evolve, spectral_bounds
        from .hamiltonian import Model

        sc, o = request.scenario, request.options
        n = sc.n
        times = request.times
        pairs = check_pairs(o["pairs"], n)
        max_out = self._memory(request, method)
        branches = product_branches(sc.P0_mass, mixed=o["mixed"], max_branches=o["max_branches"])
        stats = {"branches": len(branches)}
        with limited_threads(n):
            model = Model(sc)
            diag = model.diagonal()
            scratch = np.empty(1 << n, dtype=complex) if o["energy"] else None

            def energy_fn(v):
                _kernels.hmatvec(v, scratch, diag, model.flip_bits, n)
                return _kernels.vdot(v, scratch).real

            bar = request.progress.start(len(times) * len(branches), unit="output")
            obs = Observer(n, len(times), pairs, energy_fn if o["energy"] else None, progress=bar)
            psis = [(w, _kernels.product_state(up, down)) for w, up, down in branches]
            if method == "chebyshev":
                allowed = np.zeros(n + 1, dtype=bool)
                for _, v in psis:
                    allowed |= _kernels.sector_weights(v, n) > 0
                t0 = _time.perf_counter()
                bounds = spectral_bounds(model, diag, allowed)
                stats["bounds_s"] = round(_time.perf_counter() - t0, 3)
                stats["sectors"] = int(allowed.sum())
            for w, psi in psis:
                obs.weight = w
                if method == "chebyshev":
                    chebyshev_evolve(
                        model,
                        diag,
                        psi,
                        times,
                        obs,
                        tol=1e-12 if o["tol"] is None else o["tol"],
                        bounds=bounds,
                        max_outputs=max_out,
                        stats=stats,
                    )
                else:
                    expm_evolve(
                        model,
                        psi,
                        times,
                        obs,
                        basis=o["basis"] or "sectors",
                        builder=o["builder"] or "fast",
                        tol=o["tol"],
                        stats=stats,
                    )
        return Output(
            P=mass_to_flavor(obs.P, sc.theta),
            extras=observables(obs, pairs),
            stats=stats,
            attrs={"method": method},
            options=self._recorded(o, method),
        )


def _beam_extras(struct, out, P_mass):
    """The Dataset extras of method "beams" besides the pair observables: the shared one-body
    ones per particle, and the beam ones on dimension ``beam``."""
    import xarray as xr

    from .observables import entropy_bits

    beam = {"beam": ("beam", list(struct.labels)), "beam_size": ("beam", struct.sizes.astype(np.int64))}
    ex = {
        "entropy": xr.DataArray(
            entropy_bits(P_mass),
            dims=("time", "particle"),
            attrs={"long_name": "one-body von Neumann entropy", "units": "bits"},
        ),
        "purity": xr.DataArray(
            struct.broadcast(out["purity"]),
            dims=("time", "particle"),
            attrs={"long_name": "one-body purity Tr rho^2"},
        ),
        "norm": xr.DataArray(out["norm"], dims=("time",), attrs={"long_name": "|psi|^2 (check: 1)"}),
        "S3_total": xr.DataArray(
            out["S3_total"], dims=("time",), attrs={"long_name": "sum_a P_3 (mass basis), conserved"}
        ),
        "beam_purity": xr.DataArray(
            out["purity"],
            dims=("time", "beam"),
            coords=beam,
            attrs={"long_name": "one-body purity Tr rho^2 of a member of the beam"},
        ),
        "beam_spin": xr.DataArray(
            out["spin_total"],
            dims=("time", "beam"),
            coords=beam,
            attrs={"long_name": "<J_g^2> of the beam, conserved: (N_g/2)(N_g/2 + 1)"},
        ),
    }
    if "entropy" in out:
        ex["beam_entropy"] = xr.DataArray(
            out["entropy"],
            dims=("time", "beam"),
            coords=beam,
            attrs={"long_name": "entanglement entropy of the beam with the rest (NaN: not computed)", "units": "bits"},
        )
    if "energy" in out:
        ex["energy"] = xr.DataArray(out["energy"], dims=("time",), attrs={"long_name": "<H> / mu, conserved"})
    return ex


def _beam_pair_extras(out, pairs, which, group):
    """Concurrence and mutual information of the particle ``pairs`` from those of their beam
    pairs ``which`` (both are symmetric in the two particles), on dimension ``pair``."""
    import xarray as xr

    idx = np.array(which, dtype=np.int64)
    coords = {
        "pair_a": ("pair", [a for a, _ in pairs]),
        "pair_b": ("pair", [b for _, b in pairs]),
        "pair_beam_a": ("pair", [str(group[a]) for a, _ in pairs]),
        "pair_beam_b": ("pair", [str(group[b]) for _, b in pairs]),
    }
    return {
        "concurrence": xr.DataArray(
            out["concurrence"][:, idx],
            dims=("time", "pair"),
            coords=coords,
            attrs={"long_name": "two-body concurrence"},
        ),
        "mutual_information": xr.DataArray(
            out["mutual_information"][:, idx],
            dims=("time", "pair"),
            coords=coords,
            attrs={"long_name": "two-body mutual information", "units": "bits"},
        ),
    }
