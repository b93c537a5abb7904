"""``--plot``: F0 contours over the aligned frames, and the two spectrograms side by side (extra ``plot``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rvclora.errors import MissingExtraError
from rvclora.evaluate.compare import PairResult
from rvclora.evaluate.settings import FRAME_PERIOD_S
from rvclora.fileio import atomic_write

PLOT_FORMATS = (".png", ".pdf", ".svg", ".jpg")


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never open a window
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtraError("--plot", "plot", "matplotlib") from exc
    return plt


def require_matplotlib() -> None:
    """Fail before any work is done when the plot cannot be drawn."""
    _pyplot()


def check_plot_target(plot: Path | None, folder: bool = False) -> None:
    """Refuse, before any work, a ``--plot`` that cannot be written: an image file needs a known type; with
    ``folder`` it names a folder (one image per pair); either way matplotlib must be installed."""
    if plot is None:
        return
    from rvclora.errors import ConfigError

    if not folder and plot.suffix.lower() not in PLOT_FORMATS:
        raise ConfigError(f"--plot {plot}: unknown image type", f"end the name with {', '.join(PLOT_FORMATS)}")
    if folder and plot.suffix.lower() in PLOT_FORMATS:
        raise ConfigError(f"--plot {plot}: in folder mode --plot names a folder", "give a folder path")
    require_matplotlib()


def plot_pair(result: PairResult, path: Path, pitch: float = 0.0) -> None:
    """Write the figure of one pair to ``path`` (format from its extension), atomically."""
    plt = _pyplot()
    fig = plt.figure(figsize=(12, 7), constrained_layout=True)
    try:
        _draw(fig, result, pitch)
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", dpi=100)
    finally:
        plt.close(fig)


def _draw(fig, result: PairResult, pitch: float) -> None:
    f0_ref, f0_conv, spec_ref, spec_conv = result.f0_ref, result.f0_conv, result.spec_ref, result.spec_conv
    # compare() fills them all
    assert f0_ref is not None and f0_conv is not None and spec_ref is not None and spec_conv is not None
    grid = fig.add_gridspec(2, 2)
    ax_f0 = fig.add_subplot(grid[0, :])
    frames = np.arange(len(f0_ref)) * FRAME_PERIOD_S
    shift = f" (shifted {pitch:+g} st)" if pitch else ""
    ax_f0.plot(frames, np.where(f0_ref > 0, f0_ref, np.nan), label=f"reference{shift}")
    ax_f0.plot(frames, np.where(f0_conv > 0, f0_conv, np.nan), label="converted")
    ax_f0.set(xlabel="aligned time (s)", ylabel="F0 (Hz)", title=f"{result.name}: F0 along the alignment")
    ax_f0.legend(loc="upper right")
    for col, (label, spec) in enumerate((("reference", spec_ref), ("converted", spec_conv))):
        ax = fig.add_subplot(grid[1, col])
        db = 20 * np.log10(np.maximum(spec.T, 1e-8))
        ax.imshow(
            db,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=db.max() - 80,
            vmax=db.max(),
            extent=(0, spec.shape[0] * FRAME_PERIOD_S, 0, result.sample_rate / 2000),
        )
        ax.set(xlabel="time (s)", ylabel="kHz", title=f"{label} ({result.sample_rate} Hz)")
