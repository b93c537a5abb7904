"""``rvclora eval``: objective metrics of converted audio against a reference (one pair, or two folders).

Thin layer: parse flags into :class:`EvalSettings`, let :mod:`rvclora.evaluate` do the work, print a table or
JSON. Heavy imports stay inside the function so ``rvclora eval --help`` is instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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

    from rvclora.console import emit_json, err, progress, show, table
    from rvclora.errors import BadInputError, ConfigError
    from rvclora.evaluate import report
    from rvclora.evaluate.compare import Evaluator
    from rvclora.evaluate.pairing import pair_folders
    from rvclora.evaluate.plot import PLOT_FORMATS, plot_pair, require_matplotlib

    folder_mode = ref.is_dir()
    if folder_mode != converted.is_dir() and converted.exists() and ref.exists():
        raise BadInputError(f"{ref} and {converted} must both be files or both be folders", "give two of a kind")
    if plot is not None:
        if not folder_mode and plot.suffix.lower() not in PLOT_FORMATS:
            raise ConfigError(f"--plot {plot}: unknown image type", f"end the name with {', '.join(PLOT_FORMATS)}")
        if folder_mode and plot.suffix.lower() in PLOT_FORMATS:
            raise ConfigError(f"--plot {plot}: in folder mode --plot names a folder", "give a folder path")
        require_matplotlib()
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
    pairing = pair_folders(ref, converted) if folder_mode else None
    evaluator = Evaluator(settings)

    if pairing is None:
        result = evaluator.evaluate(ref, converted)
        if plot is not None:
            plot_pair(result, plot, pitch)
        if json_out:
            emit_json(report.single_json(result, evaluator.notes))
            return
        show(table(result.name, ["metric", "value", "rating"], report.metric_rows(result)))
        for note in [*evaluator.notes, *result.notes]:
            err.print(f"[dim]note: {escape(note)}[/dim]")
        return

    results = []
    with progress() as bar:
        task = bar.add_task("eval", total=len(pairing.pairs), status="")
        for stem, ref_file, conv_file in pairing.pairs:
            bar.update(task, status=stem)
            results.append(evaluator.evaluate(ref_file, conv_file, name=stem))
            if plot is not None:
                plot_pair(results[-1], plot / f"{stem}.png", pitch)
            bar.advance(task)
    if json_out:
        emit_json(report.folder_json(results, pairing, evaluator.notes))
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
    for note in evaluator.notes:
        err.print(f"[dim]note: {escape(note)}[/dim]")
    for r in results:
        for note in r.notes:
            err.print(f"[dim]note: {escape(r.name)}: {escape(note)}[/dim]")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
