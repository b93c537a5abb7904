"""Shapes of the output: the JSON documents and the rich tables of ``rvclora eval``.

Single pair: one JSON object with the metric keys and their ``ratings`` (bands.py). Folder mode:
``{"pairs": [...], "aggregate": {metric: summary (+ "rating" of the mean)}, "unpaired": {"ref_only": [...],
"converted_only": [...]}, "ci_method": ..., "mcd_style": ..., "notes": [...]}``. Undefined metrics are
``null`` in JSON and ``n/a`` in tables; a metric without bands has an empty rating cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rvclora.evaluate.bands import BANDS, rating
from rvclora.evaluate.compare import METRIC_KEYS, OPTIONAL_KEYS, PairResult
from rvclora.evaluate.pairing import Pairing
from rvclora.evaluate.stats import CI_METHOD, summarize

COLUMNS = {
    "mcd_db": ("MCD dB", 2),
    "spectral_convergence": ("spec. conv.", 3),
    "f0_rmse_cents": ("F0 RMSE ¢", 1),
    "f0_corr": ("F0 corr", 3),
    "vuv_error": ("V/UV err", 3),
    "speaker_similarity": ("spk sim", 3),
    "phone_error_rate": ("PER", 3),
}


def metric_keys(results: Sequence[PairResult]) -> list[str]:
    """The metrics every pair has, plus the optional ones these results computed."""
    return [*METRIC_KEYS, *(k for k in OPTIONAL_KEYS if results and k in results[0].metrics)]


def fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _style(results: Sequence[PairResult]) -> str:
    return results[0].mcd_style if results else "classic"


def aggregate(results: Sequence[PairResult]) -> dict[str, dict[str, Any]]:
    """Summary per metric; metrics with bands also get the ``rating`` of their mean."""
    summaries = {key: summarize([r.metrics[key] for r in results]) for key in metric_keys(results)}
    for key in BANDS:
        summaries[key]["rating"] = rating(key, summaries[key]["mean"], _style(results))
    return summaries


def single_json(result: PairResult, notes: Sequence[str]) -> dict[str, Any]:
    data = result.to_dict()
    data["notes"] = [*notes, *result.notes]
    return data


def folder_json(results: Sequence[PairResult], pairing: Pairing, notes: Sequence[str]) -> dict[str, Any]:
    return {
        "pairs": [r.to_dict() for r in results],
        "aggregate": aggregate(results),
        "ci_method": CI_METHOD,
        "mcd_style": _style(results),
        "unpaired": {"ref_only": pairing.ref_only, "converted_only": pairing.converted_only},
        "notes": list(notes),
    }


def metric_rows(result: PairResult) -> list[list[str]]:
    """One pair as metric / value / rating lines (fits 80 columns, unlike one wide row)."""
    return [
        [COLUMNS[k][0], fmt(result.metrics[k], COLUMNS[k][1]), rating(k, result.metrics[k], result.mcd_style) or ""]
        for k in metric_keys([result])
    ]


def pair_rows(results: Sequence[PairResult]) -> list[list[str]]:
    return [[r.name, *(fmt(r.metrics[k], COLUMNS[k][1]) for k in metric_keys(results))] for r in results]


def aggregate_rows(results: Sequence[PairResult]) -> list[list[str]]:
    rows = []
    for key, summary in aggregate(results).items():
        label, digits = COLUMNS[key]
        ci = summary["ci95"]
        ci_text = "n/a" if ci is None else f"{fmt(ci[0], digits)} … {fmt(ci[1], digits)}"
        rows.append(
            [
                label,
                str(summary["n"]),
                fmt(summary["mean"], digits),
                fmt(summary["median"], digits),
                ci_text,
                summary.get("rating") or "",
            ]
        )
    return rows
