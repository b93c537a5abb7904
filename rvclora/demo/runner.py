"""``rvclora demo``: build the demo world, then run every stage through the functions its command calls.

Steps: world → preprocess → extract → train → infer → merge → inspect → eval. Running again in one folder
resumes: the world's files are kept, preprocess/extract skip what is up to date, training resumes from its
checkpoints (or reports it is finished), infer and merge keep outputs newer than the adapter and redo the
others, so every output always comes from the current adapter. ``overwrite`` starts over.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from rvclora.demo.world import FULL, QUICK, World, build_world
from rvclora.errors import OutputError

STAMP = "demo.json"  # marks a folder as a demo world: its seed and size, then the last run's summary
CONVERTED = "converted"
MERGED = "voice.pth"
Rows = Callable[[dict[str, Any]], list[tuple[str, str]]]


@dataclass(frozen=True)
class Plan:
    """What one run does: the world's size and the training budget."""

    quick: bool
    seed: int
    steps: int  # optimizer steps
    batch_size: int
    f0_method: str  # quick: dio (fast); full: auto, what a user without rmvpe.pt gets (harvest)

    @classmethod
    def make(cls, quick: bool, seed: int) -> Plan:
        if quick:
            return cls(quick, seed, steps=2, batch_size=2, f0_method="dio")
        return cls(quick, seed, steps=30, batch_size=2, f0_method="auto")


REAL_ASSETS = """\
The demo's models are randomly initialised, so the converted audio is not
meaningful speech: the run proves every stage works on this machine, not how
a trained voice sounds. For real voices, point a workspace at real RVC assets
with these keys in its rvclora.yaml (or pass --base, --base-d, --hubert and
--rmvpe once to rvclora train, which stores them there):
  assets.base:    <RVC>/assets/pretrained_v2/f0G40k.pth
  assets.base_d:  <RVC>/assets/pretrained_v2/f0D40k.pth
  assets.hubert:  <RVC>/assets/hubert/hubert_base.pt
  assets.rmvpe:   <RVC>/assets/rmvpe/rmvpe.pt
<RVC> is your RVC WebUI or Applio folder (both keep these files there).
Then put recordings in the workspace's raw/ folder: rvclora train <workspace>"""


def default_folder() -> Path:
    """The demo's folder when none is given: ``rvclora/demo`` in the user's cache folder (``$XDG_CACHE_HOME``,
    else ``~/.cache``), so running it inside a source checkout leaves ~90 MB nowhere near the code."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "rvclora" / "demo"


def prepare_folder(root: Path, plan: Plan, overwrite: bool) -> None:
    """Make ``root`` ready: new, a resumable demo of the same plan, or (with ``overwrite``) emptied.

    A non-empty folder without the demo stamp is never touched, so a typo cannot delete someone's files.
    """
    stamp = root / STAMP
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root} is a file", "give a folder for the demo")
    if root.is_dir() and any(root.iterdir()):
        if not stamp.is_file():
            raise OutputError(
                f"{root} is not empty and is not an rvclora demo folder", "choose a new or empty folder for the demo"
            )
        if overwrite:
            for child in root.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            made = _read_stamp(stamp)
            if (made.get("seed"), made.get("quick")) != (plan.seed, plan.quick):
                raise OutputError(
                    f"{root} holds a demo made with seed {made.get('seed')}"
                    f"{' (--quick)' if made.get('quick') else ''}; this run asks for seed {plan.seed}"
                    f"{' (--quick)' if plan.quick else ''}",
                    "pass --overwrite to rebuild it, or choose another folder",
                )
    _write_stamp(stamp, {"seed": plan.seed, "quick": plan.quick, "complete": False})


def _read_stamp(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_stamp(path: Path, data: dict[str, Any]) -> None:
    from rvclora.fileio import atomic_write

    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(plain(data), indent=2) + "\n", encoding="utf-8")


def plain(obj: Any) -> Any:
    """A JSON-ready copy of a stage's result (dataclasses, ``to_dict()`` objects, paths, non-finite floats)."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    elif is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


class _Demo:
    """One run: the steps in order, each timed and summarised (a table, or a JSON entry)."""

    def __init__(self, root: Path, plan: Plan, as_json: bool) -> None:
        self.root, self.plan, self.as_json = root, plan, as_json
        self.steps: dict[str, dict[str, Any]] = {}
        self.world: World | None = None
        self.adapter: Path | None = None

    @contextlib.contextmanager
    def _quiet_stdout(self) -> Iterator[None]:
        """With --json, stdout carries only the final document: stage tables go to stderr."""
        if self.as_json:
            with contextlib.redirect_stdout(sys.stderr):
                yield
        else:
            yield

    def step(self, name: str, fn: Callable[[], dict[str, Any]], rows: Rows | None = None) -> dict[str, Any]:
        """Run one step, time it, keep its JSON-ready summary and show it as a table."""
        from rich.markup import escape

        from rvclora.console import err, out, table

        number = len(self.steps) + 1
        err.print(f"[bold cyan]step {number}/{len(STEPS)}: {name}[/bold cyan]")
        t0 = time.perf_counter()
        with self._quiet_stdout():
            result = plain(fn())
        result["seconds"] = round(time.perf_counter() - t0, 2)
        self.steps[name] = result
        cells = [(escape(k), escape(v)) for k, v in (rows or _rows)(result)]  # values are text, not markup
        view = table(f"{name} ({result['seconds']:.1f} s)", ("", ""), cells)
        (err if self.as_json else out).print(view)
        return result

    # --- the steps ----------------------------------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        size = QUICK if self.plan.quick else FULL
        self.world = build_world(self.root, size, self.plan.seed)
        return self.world.to_dict()

    def workspace(self) -> Any:
        from rvclora.workspace import Workspace

        w = self._world()
        ws = Workspace.open(
            w.workspace,
            overrides={
                "sr": "40k",
                "version": "v2",
                "f0": True,
                "f0_method": self.plan.f0_method,
                "assets.base": str(w.base),
                "assets.base_d": str(w.base_d),
                "assets.hubert": str(w.hubert),
                "preprocess.workers": 1,
                "train.epochs": 1000,
                "train.max_steps": self.plan.steps,
                "train.batch_size": self.plan.batch_size,
                "train.save_every": 1000,
                "train.log_every": 1,
                "train.seed": self.plan.seed,
            },
        )
        ws.save_settings()  # the demo's own settings; train reads them from the file
        return ws

    def preprocess(self) -> dict[str, Any]:
        from rvclora.audio.preprocess import preprocess_workspace

        return preprocess_workspace(self.workspace()).to_dict()

    def extract(self) -> dict[str, Any]:
        from rvclora.features.extract import extract

        return extract(self.workspace()).to_dict()

    def train(self) -> dict[str, Any]:
        from rvclora.train.workflow import train_workspace

        result = train_workspace(self._world().workspace, {})
        assert result is not None  # single process: rank 0
        if result.output is None:
            raise OutputError("training produced no adapter", "run the demo again with --overwrite")
        self.adapter = Path(result.output)
        return result.summary()

    def infer(self) -> dict[str, Any]:
        from rvclora.demo.speech import VOICES
        from rvclora.infer.options import DEFAULTS as D
        from rvclora.infer.run import run_infer

        w = self._world()
        # Voice B speaks about an octave above voice A: transpose as an RVC user would for such a pair.
        pitch = round(12 * math.log2(VOICES[0].f0_hz / VOICES[1].f0_hz))
        fresh = _newer(self.converted, self._adapter())  # as merge: redo when the adapter changed
        rows = run_infer(
            inputs=[str(w.source)],
            output=str(self.converted),
            converter_args=dict(
                lora=[self._adapter()],
                weights=None,
                scale=1.0,
                each=False,
                model=None,
                base=None,
                index=None,
                hubert=None,
                rmvpe=None,
                f0_method=None,
                device=None,
                precision="auto",
                force=False,
                pitch=pitch,
                f0_file=None,
                index_rate=D.index_rate,
                protect=D.protect,
                filter_radius=D.filter_radius,
                rms_mix_rate=D.rms_mix_rate,
                resample_sr=D.resample_sr,
                speaker_id=D.speaker_id,
            ),
            overwrite=not fresh,
        )
        import soundfile as sf

        info = sf.info(str(self.converted))
        return {
            "input": str(w.source),
            "output": str(self.converted),
            "pitch": pitch,
            "status": rows[0]["status"],
            "sr": info.samplerate,
            "seconds_of_audio": round(info.duration, 3),
            "input_seconds": round(sf.info(str(w.source)).duration, 3),
        }

    def merge(self) -> dict[str, Any]:
        from rvclora.merging import merge_to_model

        merged, adapter = self.root / MERGED, self._adapter()
        if _newer(merged, adapter):
            return {"output": str(merged), "status": "kept (newer than the adapter)", "bytes": merged.stat().st_size}
        result = merge_to_model(
            self._world().base,
            [adapter],
            [1.0],
            merged,
            precision="fp16",
            info="rvclora demo (random base: not a real voice)",
        )
        return {**result, "status": "written"}

    def inspect(self) -> dict[str, Any]:
        from rvclora.inspection import describe
        from rvclora.lora.fingerprint import base_fingerprint
        from rvclora.models.checkpoint import load_synthesizer

        adapter, merged = describe(self._adapter()), describe(self.root / MERGED)
        base = describe(self._world().base)
        base["fingerprint"] = base_fingerprint(load_synthesizer(self._world().base))
        keys = ("kind", "version", "sr", "f0", "n_params", "rank", "alpha", "targets", "base_fingerprint")
        return {
            "adapter": {k: adapter.get(k) for k in keys if adapter.get(k) is not None},
            "merged": {k: merged.get(k) for k in ("kind", "version", "sr", "f0", "n_params", "dtype")},
            "base": {k: base.get(k) for k in ("kind", "version", "sr", "n_params", "fingerprint")},
            "adapter_fits_base": adapter.get("base_fingerprint") == base["fingerprint"],
        }

    def evaluate(self) -> dict[str, Any]:
        from rvclora.evaluate import report
        from rvclora.evaluate.compare import Evaluator
        from rvclora.evaluate.settings import EvalSettings

        method = "harvest" if self.plan.f0_method == "auto" else self.plan.f0_method
        evaluator = Evaluator(EvalSettings(f0_method=method))
        result = evaluator.evaluate(self._world().reference, self.converted)
        return report.single_json(result, evaluator.notes)

    # --- helpers ------------------------------------------------------------------------------------------
    @property
    def converted(self) -> Path:
        return self.root / CONVERTED / f"{self._world().source.stem}_as_voice_a.wav"

    def _world(self) -> World:
        assert self.world is not None, "the world step runs first"
        return self.world

    def _adapter(self) -> Path:
        assert self.adapter is not None, "the train step runs first"
        return self.adapter


STEPS = ("world", "preprocess", "extract", "train", "infer", "merge", "inspect", "eval")


def _newer(output: Path, source: Path) -> bool:
    """Whether ``output`` exists and was written after ``source`` (the rule infer and merge reuse outputs by)."""
    return output.is_file() and output.stat().st_mtime_ns >= source.stat().st_mtime_ns


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return f"{len(value)} items" if len(value) > 4 else ", ".join(_fmt(v) for v in value)
    return str(value)


def _rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, _fmt(v)) for k, v in result.items() if k != "seconds" and v not in (None, [], {})]


def _eval_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    from rvclora.evaluate.compare import METRIC_KEYS
    from rvclora.evaluate.report import COLUMNS, fmt

    rows = [(COLUMNS[k][0], fmt(result.get(k), COLUMNS[k][1])) for k in METRIC_KEYS]
    return rows + [("note", n) for n in result.get("notes", [])]


def _inspect_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [(f"{part}.{k}", _fmt(v)) for part in ("adapter", "merged", "base") for k, v in result[part].items()]
    return rows + [("adapter fits base", "yes" if result["adapter_fits_base"] else "NO")]


def run_demo(
    root: Path, *, quick: bool = False, seed: int = 0, overwrite: bool = False, as_json: bool = False
) -> dict[str, Any]:
    """Run the whole demo in ``root``; returns (and with ``as_json`` prints) the summary of every step."""
    from rvclora.console import emit_json, err

    root = Path(root).expanduser().resolve()
    plan = Plan.make(quick, seed)
    prepare_folder(root, plan, overwrite)
    demo = _Demo(root, plan, as_json)
    t0 = time.perf_counter()
    demo.step("world", demo.build)
    demo.step("preprocess", demo.preprocess)
    demo.step("extract", demo.extract)
    demo.step("train", demo.train)
    demo.step("infer", demo.infer)
    demo.step("merge", demo.merge)
    demo.step("inspect", demo.inspect, _inspect_rows)
    demo.step("eval", demo.evaluate, _eval_rows)
    summary = {
        "dir": str(root),
        "quick": quick,
        "seed": seed,
        "complete": True,
        "speech_source": demo._world().speech_source,
        "seconds": round(time.perf_counter() - t0, 2),
        "steps": demo.steps,
        "note": REAL_ASSETS,
    }
    _write_stamp(root / STAMP, summary)
    if as_json:
        emit_json(summary)
    else:
        from rich.markup import escape

        from rvclora.console import out

        err.print(
            f"[bold green]demo finished in {summary['seconds']:.0f} s[/bold green]: everything is in {root} "
            f"(speech: {escape(str(summary['speech_source']))})"
        )
        out.print(f"\n[bold]Random models: what next[/bold]\n{escape(REAL_ASSETS)}")
    return summary
