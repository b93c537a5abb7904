"""What ``rvclora stream`` and ``rvclora live`` share: building the converter and stream, the latency line."""

from __future__ import annotations

import json
import sys
from typing import Any

from rvclora.infer.options import ConverterConfig, ConvertOptions
from rvclora.realtime.settings import StreamSettings


def build_stream(
    config: ConverterConfig, options: ConvertOptions, sr: int, out_sr: int | None, settings: StreamSettings
) -> Any:
    """A Converter (one voice) and a warmed-up Stream on it; user errors surface as RvcloraError."""
    from rvclora.infer.converter import Converter
    from rvclora.realtime.stream import Stream

    stream = Stream(Converter.from_config(config, options), sr, out_sr, settings)
    stream.warm_up()
    return stream


def slow_warning(stats: Any) -> str | None:
    """The 'cannot keep up' line, when the recent blocks took longer to compute than they last."""
    mean = stats.as_dict()["compute_mean_s"]
    if stats.blocks and mean > stats.block_s:
        return f"compute {mean:.2f} s per {stats.block_s:g} s block: raise --block or use a GPU"
    return None


def report_line(stats: Any) -> str:
    d = stats.as_dict()
    return (
        f"latency {d['total_latency_s']:.3f} s (algorithmic {d['latency_s']:.3f} + compute "
        f"{d['compute_mean_s']:.3f}) · block {d['block_s']:g} s · {d['blocks']} blocks"
        + (f" · {d['late']} late" if d["late"] else "")
    )


def make_reporter(quiet: bool, as_json: bool) -> Any:
    """The once-a-second stderr report: nothing, one JSON object per line, or a human line (+ a warning)."""
    if quiet:
        return None
    from rvclora.console import err

    def report(stats: Any) -> None:
        if as_json:
            sys.stderr.write(json.dumps(stats.as_dict()) + "\n")
            sys.stderr.flush()
            return
        err.print(report_line(stats))
        warning = slow_warning(stats)
        if warning:
            err.print(f"[yellow]warning:[/yellow] {warning}")

    return report
