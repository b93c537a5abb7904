"""The RESULTS.md tables of one quality run: ``python benchmarks/quality/table.py results.json``.

Prints Markdown: the conversion scores of every variant (and the un-adapted base), the sweep's own held-out
scores, and each issue target against its figure. Only reads the JSON that run.py wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def tables(report: dict) -> str:
    lines = []
    for target, pv in report["per_voice"].items():
        rows = pv["variants"]
        full = next((r for r in rows if r["name"] == "full"), None)
        lines += [
            f"**{target}** (source {pv['source_voice']}, --pitch {pv['pitch_semitones']:+d}: median F0 "
            f"{pv['source_median_f0_hz']} → {pv['target_median_f0_hz']} Hz)",
            "",
            "| variant | bytes | of full's bytes | MCD dB | % of full's MCD gain | speaker sim. "
            "| % of full's speaker gain | F0 RMSE ¢ | PER vs source |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        base = pv["base_scores"][pv["base_nearest_speaker"]]
        lines.append(
            f"| base, nearest speaker ({pv['base_nearest_speaker']}) | – | – | {_f(base['mcd_db'])} | – | "
            f"{_f(base['speaker_similarity'], 3)} | – | {_f(base['f0_rmse_cents'], 0)} | "
            f"{_f(base['phone_error_rate'])} |"
        )
        for r in rows:
            share = None if full is None else 100.0 * r["bytes"] / full["bytes"]
            lines.append(
                f"| {r['name']} | {r['bytes']:,} | {_f(share, 1)} % | {_f(r['mcd_db'])} | {_f(r['gain_mcd_pct'], 0)} | "
                f"{_f(r['speaker_similarity'], 3)} | {_f(r['gain_speaker_pct'], 0)} | {_f(r['f0_rmse_cents'], 0)} | "
                f"{_f(r['phone_error_rate'])} |"
            )
        lines += [
            "",
            "Sweep's held-out clips (re-rendered from their own features and F0, frames matched one to one):",
            "",
            "| variant | train s | MCD dB | % of full's MCD gain | F0 RMSE ¢ | speaker sim. "
            "| % of full's speaker gain |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['name']} | {_f(r['train_seconds'], 0)} | {_f(r['heldout_mcd_db'])} | "
                f"{_f(r['heldout_gain_mcd_pct'], 0)} | {_f(r['heldout_f0_rmse_cents'], 0)} | "
                f"{_f(r['heldout_speaker_similarity'], 3)} | {_f(r['heldout_gain_speaker_pct'], 0)} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(tables(json.loads(Path(sys.argv[1]).read_text())))
