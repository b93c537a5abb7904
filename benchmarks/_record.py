"""Machine-readable figures beside the printed ones: ``--json PATH`` on a benchmark script merges its results
into one JSON file under a key of its own, rewritten atomically after each part, so a run cut short by a time
limit still leaves what finished (the GPU run kit collects every part into ``gpu-YYYY-MM-DD.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def environment() -> dict[str, Any]:
    """What the figures were measured on: device name, torch and CUDA versions, CPU count, load average."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def _finite(value: Any) -> Any:
    """NaN and infinities as null: strict JSON has no such numbers."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def record(path: str | Path | None, key: str, value: Any) -> None:
    """Set ``key`` to ``value`` in the JSON file at ``path`` (created with the environment if missing); a dict
    is merged into the one already there, so runs of one script with other settings add up. Nothing when
    ``path`` is None."""
    if path is None:
        return
    path = Path(path)
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else environment()
    old, new = data.get(key), _finite(value)
    data[key] = {**old, **new} if isinstance(old, dict) and isinstance(new, dict) else new
    from rvclora.fileio import atomic_write

    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
