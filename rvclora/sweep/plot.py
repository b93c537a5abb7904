"""``rvclora sweep --plot``: quality against size — held-out MCD over adapter bytes, one line per preset,
with the floor and full fine-tuning as reference marks (extra ``plot``)."""

from __future__ import annotations

from pathlib import Path

from rvclora.fileio import atomic_write
from rvclora.sweep.stage import SweepSummary


def plot_sweep(summary: SweepSummary, path: Path) -> None:
    """Write the figure to ``path`` (format from its extension), atomically."""
    from rvclora.evaluate.plot import require_matplotlib

    require_matplotlib()  # selects the file-only backend, or names the extra to install
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
    try:
        presets = sorted({v.preset for v in summary.variants if v.preset})
        for preset in presets:
            rows = sorted((v for v in summary.variants if v.preset == preset), key=lambda v: v.bytes)
            pts = [(v.bytes, mcd, v.rank) for v in rows if (mcd := v.metrics.get("mcd_db")) is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=preset)
            for x, y, rank in pts:
                ax.annotate(f"r{rank}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        marks = {"floor": "tab:gray", "full": "black"}
        for v in summary.variants:
            if v.kind in marks and (mcd := v.metrics.get("mcd_db")) is not None:
                ax.scatter([v.bytes], [mcd], marker="s", color=marks[v.kind], label=v.name, zorder=3)
        ax.set_xscale("log")
        ax.set_xlabel("bytes on disk")
        ax.set_ylabel("held-out MCD (dB, lower is better)")
        ax.set_title(f"rvclora sweep: {Path(summary.workspace).name}, {summary.steps} steps")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", dpi=100)
    finally:
        plt.close(fig)
