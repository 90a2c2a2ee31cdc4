"""Engine-vs-engine comparison on one scenario: deviation tables and the overview figure."""

from __future__ import annotations

import csv
import io
import itertools

import numpy as np

from .errors import InputError, InputTypeError

from .io import atomic_write
from .results import group_means, mass_basis

__all__ = ["deviation_table", "write_table", "plot_engines"]


def _common_times(a, b):
    ta, tb = np.asarray(a.time), np.asarray(b.time)
    common = np.intersect1d(np.round(ta, 12), np.round(tb, 12))
    if common.size == 0:
        raise InputError("the two results share no recorded times.")
    ia = np.searchsorted(np.round(ta, 12), common)
    ib = np.searchsorted(np.round(tb, 12), common)
    return a.isel(time=ia), b.isel(time=ib)


def deviation_table(results: dict, basis="flavor") -> list[dict]:
    """Largest deviations between every pair of engines on their common times.

    Columns: the two engines; ``max_dP``: max over time and particle of |P_a - P_a'|;
    ``max_dmean``: max over time and group of |<P> - <P>'| (group means);
    ``max_dpurity``: max over time and group of |<|P|> - <|P|>'|; and the mu t at which
    ``max_dmean`` occurs.
    """
    rows = []
    for (na, a), (nb, b) in itertools.combinations(results.items(), 2):
        a, b = _common_times(a, b)
        Pa = np.asarray(a["P"] if basis == "flavor" else mass_basis(a))
        Pb = np.asarray(b["P"] if basis == "flavor" else mass_basis(b))
        dP = np.linalg.norm(Pa - Pb, axis=-1)
        ga, gb = group_means(a, basis), group_means(b, basis)
        dm = np.linalg.norm(np.asarray(ga["mean"]) - np.asarray(gb["mean"]), axis=-1)
        dp = np.abs(np.asarray(ga["mean_abs"]) - np.asarray(gb["mean_abs"]))
        it = np.unravel_index(np.argmax(dm), dm.shape)[0]
        rows.append({
            "engine_a": na, "engine_b": nb,
            "max_dP": float(dP.max()), "max_dmean": float(dm.max()),
            "max_dpurity": float(dp.max()), "t_at_max_dmean": float(a.time[it]),
            "times_compared": int(a.sizes["time"]),
        })
    return rows


def write_table(rows, csv_path=None, md_path=None, title=None):
    """Write rows (list of dicts) as CSV and/or a Markdown table, atomically."""
    if not rows:
        raise InputError("no rows to write.")
    keys = list(rows[0])

    def fmt(v):
        return f"{v:.3e}" if isinstance(v, float) else str(v)

    if csv_path is not None:
        def w(fh):
            wr = csv.DictWriter(fh, fieldnames=keys)
            wr.writeheader()
            for r in rows:
                wr.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
        atomic_write(csv_path, w)
    buf = io.StringIO()
    if title:
        buf.write(f"{title}\n\n")
    buf.write("| " + " | ".join(keys) + " |\n")
    buf.write("|" + "---|" * len(keys) + "\n")
    for r in rows:
        buf.write("| " + " | ".join(fmt(r[k]) for k in keys) + " |\n")
    text = buf.getvalue()
    if md_path is not None:
        atomic_write(md_path, lambda fh: fh.write(text))
    return text


def plot_engines(results: dict, path, basis="flavor", title=None):
    """Group-mean Bloch components and <|P|> against mu t, one line style per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    first = results[names[0]]
    groups = list(dict.fromkeys(first["group"].values.tolist()))
    styles = ["-", "--", ":", "-."]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(4, 1, figsize=(7.5, 9), sharex=True)
    for k, name in enumerate(names):
        gm = group_means(results[name], basis)
        t = np.asarray(gm.time)
        for j, g in enumerate(groups):
            lab = name if len(groups) == 1 else f"{name}, {g}"
            for c, comp in enumerate("xyz"):
                axes[c].plot(t, gm["mean"].sel(group=g, component=comp), styles[k % 4],
                             color=colors[j % len(colors)], lw=1.2, label=lab if c == 0 else None)
            axes[3].plot(t, gm["mean_abs"].sel(group=g), styles[k % 4], color=colors[j % len(colors)], lw=1.2)
    for c, comp in enumerate("xyz"):
        axes[c].set_ylabel(f"<P_{comp}> (flavor)" if basis == "flavor" else f"<P_{c + 1}> (mass)")
    axes[3].set_ylabel("<|P|>")
    axes[3].set_xlabel("mu t")
    axes[0].legend(fontsize=8, ncol=2, loc="best")
    if title:
        import textwrap

        axes[0].set_title("\n".join(textwrap.wrap(title, 90)), fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110), mode="wb")
    plt.close(fig)
    return path
