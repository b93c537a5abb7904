"""``rvclora demo``: build the demo world, then run every stage through the functions its command calls.

Steps: world → preprocess → extract → train → infer → merge → inspect → eval. Running again in one folder
resumes: the world's files are kept, preprocess/extract skip what is up to date, training resumes from its
checkpoints (or reports it is finished), infer and merge keep outputs newer than the adapter and redo the
others, so every output always comes from the current adapter. ``overwrite`` starts over.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rvclora.demo.world import FULL, QUICK, World, build_world
from rvclora.errors import OutputError

if TYPE_CHECKING:
    from rvclora.train.progress import TrainProgress

STAMP = "demo.json"  # marks a folder as a demo world: its seed and size, then the last run's summary
CONVERTED = "converted"
MERGED = "voice.pth"


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
    """A JSON-ready copy of a stage's result (dataclasses, ``to_json()`` summaries, paths, non-finite floats)."""
    if hasattr(obj, "to_json"):
        obj = obj.to_json()
    elif hasattr(obj, "to_dict"):
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


class DemoProgress:
    """What a demo run tells while it runs (``rvclora demo`` draws it); the default ignores all of it."""

    def step_started(self, number: int, name: str) -> None:
        """Step ``number`` (1-based) of :data:`STEPS`, called ``name``, begins."""

    def step_finished(self, name: str, result: dict[str, Any]) -> None:
        """Step ``name`` is done; ``result`` is its JSON-ready summary, with its duration in ``seconds``."""

    def training(self) -> TrainProgress | None:
        """Where the train step reports its run (None: nowhere)."""
        return None


class _Demo:
    """One run: the steps in order, each timed and summarised."""

    def __init__(self, root: Path, plan: Plan, progress: DemoProgress) -> None:
        self.root, self.plan, self.progress = root, plan, progress
        self.steps: dict[str, dict[str, Any]] = {}
        self.world: World | None = None
        self.adapter: Path | None = None

    def step(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run one step, time it, keep its JSON-ready summary and report it."""
        self.progress.step_started(len(self.steps) + 1, name)
        t0 = time.perf_counter()
        result = plain(fn())
        result["seconds"] = round(time.perf_counter() - t0, 2)
        self.steps[name] = result
        self.progress.step_finished(name, result)
        return result

    # --- the steps ----------------------------------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        size = QUICK if self.plan.quick else FULL
        self.world = build_world(self.root, size, self.plan.seed)
        return self.world.to_dict()

    def workspace(self) -> Any:
        from rvclora.workspace import Workspace
        from rvclora.workspace.overrides import AssetOverrides, Overrides, PreprocessOverrides, TrainOverrides

        w = self._world()
        ws = Workspace.open(
            w.workspace,
            overrides=Overrides(
                sr="40k",
                version="v2",
                f0=True,
                f0_method=self.plan.f0_method,
                assets=AssetOverrides(base=w.base, base_d=w.base_d, hubert=w.hubert),
                preprocess=PreprocessOverrides(workers=1),
                train=TrainOverrides(
                    epochs=1000,
                    max_steps=self.plan.steps,
                    batch_size=self.plan.batch_size,
                    save_every=1000,
                    log_every=1,
                    seed=self.plan.seed,
                ),
            ),
        )
        ws.save_settings()  # the demo's own settings; train reads them from the file
        return ws

    def preprocess(self) -> dict[str, Any]:
        from rvclora.audio.preprocess import preprocess_workspace

        return preprocess_workspace(self.workspace()).to_json()

    def extract(self) -> dict[str, Any]:
        from rvclora.features.extract import extract

        return extract(self.workspace()).to_json()

    def train(self) -> dict[str, Any]:
        from rvclora.train.workflow import TrainRequest, run_train

        summary = run_train(TrainRequest(self._world().workspace), progress=self.progress.training())
        assert summary is not None  # single process: rank 0
        if summary.output is None:
            raise OutputError("training produced no adapter", "run the demo again with --overwrite")
        self.adapter = Path(summary.output)
        return summary.to_json()

    def infer(self) -> dict[str, Any]:
        from rvclora.demo.speech import VOICES
        from rvclora.infer.options import ConverterConfig, ConvertOptions
        from rvclora.infer.run import InferRequest, run_infer

        w = self._world()
        # Voice B speaks about an octave above voice A: transpose as an RVC user would for such a pair.
        pitch = round(12 * math.log2(VOICES[0].f0_hz / VOICES[1].f0_hz))
        fresh = _newer(self.converted, self._adapter())  # as merge: redo when the adapter changed
        request = InferRequest(
            [str(w.source)],
            str(self.converted),
            ConverterConfig(lora=[self._adapter()]),
            ConvertOptions(pitch=pitch),
            overwrite=not fresh,
        )
        rows = run_infer(request).to_json()
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
        from rvclora.merge.stage import merge_to_model

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
        return {**result.to_json(), "status": "written"}

    def inspect(self) -> dict[str, Any]:
        from rvclora.inspect.stage import describe
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


def run_demo(
    root: Path, *, quick: bool = False, seed: int = 0, overwrite: bool = False, progress: DemoProgress | None = None
) -> dict[str, Any]:
    """Run the whole demo in ``root``; returns the summary of every step (also kept in its ``demo.json``)."""
    root = Path(root).expanduser().resolve()
    plan = Plan.make(quick, seed)
    prepare_folder(root, plan, overwrite)
    demo = _Demo(root, plan, progress or DemoProgress())
    t0 = time.perf_counter()
    demo.step("world", demo.build)
    demo.step("preprocess", demo.preprocess)
    demo.step("extract", demo.extract)
    demo.step("train", demo.train)
    demo.step("infer", demo.infer)
    demo.step("merge", demo.merge)
    demo.step("inspect", demo.inspect)
    demo.step("eval", demo.evaluate)
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
    return summary
