"""One evaluation run, as ``rvclora eval`` does it: a pair of files, or two folders paired by name, with the
figures ``--plot`` asks for. The command only renders what this returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rvclora.errors import BadInputError
from rvclora.evaluate.compare import Evaluator, PairResult
from rvclora.evaluate.pairing import Pairing, pair_folders
from rvclora.evaluate.plot import check_plot_target, plot_pair
from rvclora.evaluate.settings import EvalSettings


@dataclass
class EvalRun:
    """Results in pair order; ``pairing`` is None for one pair of files; ``notes`` are the evaluator's own."""

    results: list[PairResult]
    notes: list[str]
    pairing: Pairing | None = None


def evaluate_paths(
    ref: Path,
    converted: Path,
    settings: EvalSettings,
    plot: Path | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> EvalRun:
    """Score ``converted`` against ``ref`` (two files, or two folders whose files pair by name).

    ``plot``: an image file for one pair, a folder (``NAME.png`` per pair) for folders; checked before any work.
    ``on_progress(done, total, name)`` is called before each pair of a folder run and once at the end.
    """
    folder_mode = ref.is_dir()
    if folder_mode != converted.is_dir() and converted.exists() and ref.exists():
        raise BadInputError(f"{ref} and {converted} must both be files or both be folders", "give two of a kind")
    check_plot_target(plot, folder=folder_mode)
    pairing = pair_folders(ref, converted) if folder_mode else None
    evaluator = Evaluator(settings)
    if pairing is None:
        result = evaluator.evaluate(ref, converted)
        if plot is not None:
            plot_pair(result, plot, settings.pitch)
        return EvalRun([result], evaluator.notes)
    results = []
    total = len(pairing.pairs)
    for done, (stem, ref_file, conv_file) in enumerate(pairing.pairs):
        if on_progress is not None:
            on_progress(done, total, stem)
        results.append(evaluator.evaluate(ref_file, conv_file, name=stem))
        if plot is not None:
            plot_pair(results[-1], plot / f"{stem}.png", settings.pitch)
    if on_progress is not None:
        on_progress(total, total, "")
    return EvalRun(results, evaluator.notes, pairing)
