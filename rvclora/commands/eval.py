"""``rvclora eval``: objective metrics of converted audio against a reference (one pair, or two folders).

Thin layer: parse flags into :class:`EvalSettings`, let :mod:`rvclora.evaluate` do the work, print a table or
JSON. Heavy imports stay inside the function so ``rvclora eval --help`` is instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rvclora.choices import Align, F0Method, McdStyle
from rvclora.evaluate.settings import EvalSettings

DEFAULTS = EvalSettings()
DEFAULT_F0_METHOD = F0Method(DEFAULTS.f0_method)


def eval_command(
    ref: Annotated[Path, typer.Argument(help="Reference audio file, or a folder of reference files.")],
    converted: Annotated[
        Path, typer.Argument(help="Converted audio file, or a folder: files pair with REF's by name without extension.")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead of tables.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write F0 contours and spectrograms: an image file (.png/.pdf/.svg/.jpg), "
            "or in folder mode a folder that gets NAME.png per pair. Needs the 'plot' extra.",
        ),
    ] = None,
    pitch: Annotated[
        float,
        typer.Option(
            "--pitch",
            help="Semitones the conversion was transposed by: the reference F0 is multiplied by 2^(N/12) before "
            "comparing.",
        ),
    ] = DEFAULTS.pitch,
    f0_method: Annotated[
        F0Method, typer.Option("--f0-method", help="F0 estimator (as rvclora extract).")
    ] = DEFAULT_F0_METHOD,
    rmvpe: Annotated[Path | None, typer.Option("--rmvpe", help="rmvpe.pt, for --f0-method rmvpe.")] = None,
    align: Annotated[
        Align,
        typer.Option(
            "--align",
            help="dtw: align frames by DTW on mel-cepstra; time: frame i with frame i "
            "(for conversions of the reference itself).",
        ),
    ] = DEFAULTS.align,
    mcd_style: Annotated[
        McdStyle,
        typer.Option(
            "--mcd-style",
            help="classic: SPTK/WORLD MCD (order 24, c0 left out; the rating bands "
            "apply); pymcd: the parameters of pymcd, as RVCBench reports (order 13, alpha 0.65, c0 counted): far lower "
            "numbers, no band. See docs/metrics.md.",
        ),
    ] = DEFAULTS.mcd_style,
    speaker: Annotated[
        bool | None,
        typer.Option(
            "--speaker/--no-speaker",
            show_default="when the 'speaker' extra is installed",
            help="Speaker similarity (resemblyzer): --speaker makes a missing extra an error.",
        ),
    ] = DEFAULTS.speaker,
    phones: Annotated[
        bool,
        typer.Option(
            "--phones",
            help="Phone error rate (pocketsphinx, extra 'phones'): is the content of REF, the "
            "conversion's source, kept? Needs English speech.",
        ),
    ] = False,
    target_voice: Annotated[
        Path | None,
        typer.Option(
            "--target-voice",
            help="Folder of the target voice: compare speaker embeddings against its mean instead of the reference's.",
        ),
    ] = None,
) -> None:
    """Measure conversions: MCD, spectral convergence, F0 RMSE/correlation, voicing error, speaker similarity."""
    from rich.markup import escape

    from rvclora.console import emit_json, err, show, table
    from rvclora.evaluate import report
    from rvclora.evaluate.run import EvalRequest, run_eval

    settings = EvalSettings(
        f0_method=f0_method.value,
        rmvpe=rmvpe,
        pitch=pitch,
        align=align,
        speaker=speaker,
        target_voice=target_voice,
        mcd_style=mcd_style,
        phones=phones,
    )
    with _PairBar() as bar:
        summary = run_eval(EvalRequest(ref, converted, settings, plot), on_pair=bar.update)
    if json_out:
        emit_json(summary.to_json())
        return
    results, pairing = summary.results, summary.pairing
    if pairing is None:
        result = results[0]
        show(table(result.name, ["metric", "value", "rating"], report.metric_rows(result)))
        for note in [*summary.notes, *result.notes]:
            err.print(f"[dim]note: {escape(note)}[/dim]")
        return
    show(
        table(
            "pairs", ["pair", *(report.COLUMNS[k][0] for k in report.metric_keys(results))], report.pair_rows(results)
        )
    )
    show(
        table(
            f"aggregate ({report.CI_METHOD})",
            ["metric", "n", "mean", "median", "95% CI", "rating of mean"],
            report.aggregate_rows(results),
        )
    )
    for label, names in (("reference only", pairing.ref_only), ("converted only", pairing.converted_only)):
        if names:
            err.print(f"[yellow]unpaired ({label}):[/yellow] {escape(', '.join(names))}")
    for note in summary.notes:
        err.print(f"[dim]note: {escape(note)}[/dim]")
    for r in results:
        for note in r.notes:
            err.print(f"[dim]note: {escape(r.name)}: {escape(note)}[/dim]")


class _PairBar:
    """The folder-mode progress bar over the pairs; it starts with the first pair (a single pair has none)."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _PairBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, stem: str, done: int, total: int) -> None:
        from rvclora.console import progress

        if self._bar is None:
            self._bar = progress()
            self._bar.start()
            self._task = self._bar.add_task("eval", total=total, status="")
        self._bar.update(self._task, completed=done, status=stem)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
