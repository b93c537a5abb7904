"""The ``rvclora eval`` stage: one pair of files, or two folders paired by name, measured with :class:`Evaluator`.

Plots are written here too (``--plot``); the tables and the progress bar are the command's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rvclora.errors import BadInputError
from rvclora.evaluate.compare import PairResult
from rvclora.evaluate.pairing import Pairing
from rvclora.evaluate.settings import EvalSettings

#: progress callback in folder mode: (pair name, pairs done, pairs in all), before and after each pair
PairProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvalRequest:
    """Reference and converted audio: two files, or two folders whose files pair by name without extension.
    ``plot``: an image file for one pair, a folder (NAME.png per pair) in folder mode."""

    ref: Path
    converted: Path
    settings: EvalSettings = field(default_factory=EvalSettings)
    plot: Path | None = None


@dataclass
class EvalSummary:
    """The measured pairs (one without ``pairing``); :meth:`to_json` is ``rvclora eval --json``."""

    results: list[PairResult]
    pairing: Pairing | None  # None: a single pair
    notes: list[str]  # about the run as a whole (each result carries its own notes too)

    def to_json(self) -> dict[str, Any]:
        from rvclora.evaluate import report

        if self.pairing is None:
            return report.single_json(self.results[0], self.notes)
        return report.folder_json(self.results, self.pairing, self.notes)


def run_eval(request: EvalRequest, *, on_pair: PairProgress | None = None) -> EvalSummary:
    """The stage's entry point (``rvclora eval``, ``rvclora.evaluate``); inputs and ``plot`` are checked before
    anything is measured."""
    from rvclora.evaluate.compare import Evaluator
    from rvclora.evaluate.pairing import pair_folders
    from rvclora.evaluate.plot import check_plot_target, plot_pair

    ref, converted, pitch = Path(request.ref), Path(request.converted), request.settings.pitch
    plot = None if request.plot is None else Path(request.plot)
    folder_mode = ref.is_dir()
    if folder_mode != converted.is_dir() and converted.exists() and ref.exists():
        raise BadInputError(f"{ref} and {converted} must both be files or both be folders", "give two of a kind")
    check_plot_target(plot, folder=folder_mode)
    pairing = pair_folders(ref, converted) if folder_mode else None
    evaluator = Evaluator(request.settings)
    if pairing is None:
        result = evaluator.evaluate(ref, converted)
        if plot is not None:
            plot_pair(result, plot, pitch)
        return EvalSummary([result], None, evaluator.notes)
    results = []
    total = len(pairing.pairs)
    for done, (stem, ref_file, conv_file) in enumerate(pairing.pairs):
        if on_pair is not None:
            on_pair(stem, done, total)
        results.append(evaluator.evaluate(ref_file, conv_file, name=stem))
        if plot is not None:
            plot_pair(results[-1], plot / f"{stem}.png", pitch)
        if on_pair is not None:
            on_pair(stem, done + 1, total)
    return EvalSummary(results, pairing, evaluator.notes)
