"""The Python API: ``Converter(lora="voice.safetensors").convert(audio, sr) -> (audio, sr)``.

A Converter loads everything once (content encoder, pitch estimator, one base per file, one index per
file) and converts any number of inputs. With several adapters it either blends them into one voice or,
with ``each=True``, keeps them as separate voices; :meth:`Converter.convert_many` then runs the
voice-independent analysis (HuBERT, F0) once and only the synthesis per voice.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rvclora.blend_weights import parse_weights
from rvclora.choices import Backend
from rvclora.devices import resolve_precision
from rvclora.errors import BadInputError, ConfigError
from rvclora.infer import assets as asset_lookup
from rvclora.infer.chunking import ChunkConfig, default_chunking
from rvclora.infer.longform import Progress, convert_pieces
from rvclora.infer.options import DEFAULTS, ConverterConfig, ConvertOptions
from rvclora.infer.outputs import OutputTarget
from rvclora.infer.pipeline import Analysis, analyze, synthesize, timed, unvoiced_convention
from rvclora.infer.source import PreparedInput, prepare_input
from rvclora.infer.voices import (
    BaseCache,
    Voice,
    attach_adapters,
    check_encoder_fits,
    finish,
    load_retriever,
    voice_names,
)
from rvclora.lora.meta import AdapterMeta, blend_unvoiced_f0

PathLike = str | os.PathLike[str]


@dataclass
class Result:
    """One converted output and how it was made (for summaries and ``--json``); ``audio`` is None when the
    output was written to a file as it was made (:meth:`Converter.convert_prepared`)."""

    voice: str
    audio: np.ndarray | None
    sr: int
    duration_s: float
    seconds: float
    f0_method: str | None
    index: str | None
    timings: dict[str, float] = field(default_factory=dict)
    unvoiced_f0: str | None = None  # the unvoiced-F0 convention used (None: a no-pitch voice)
    index_path: str | None = None  # the index file(s) used, in full
    warnings: list[str] = field(default_factory=list)  # what the caller should be told (e.g. a lost index)

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / input duration (< 1 is faster than real time)."""
        return self.seconds / self.duration_s if self.duration_s else 0.0


def _paths(value: PathLike | Sequence[PathLike] | None) -> list[Path]:
    if value is None:
        return []
    items = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    return [Path(p).expanduser() for p in items]


class Converter:
    """Convert audio to one voice (an adapter, a blend of adapters, or a plain RVC model) or to several.

    ``lora``: adapter path(s); ``weights``: blend shares, numbers or text such as ``"0.7,0.3"`` (default equal);
    ``scale``: adapter strength; ``each``: one voice per adapter instead of a blend; ``model``: a plain RVC
    ``.pth`` (no adapter);
    ``base``: the base model (default: the path recorded in the adapter); ``index``: a retrieval index
    (default: the adapter workspace's ``index/``); ``hubert``/``rmvpe``/``f0_method``/``device``: assets
    (default: the adapter's workspace settings, then the user config); ``precision``: auto/fp32/fp16/bf16;
    ``chunking``: where long inputs are split; ``fast``: the optimised path of :mod:`rvclora.infer.fast`
    (weight norm folded, in-place decoder, inference mode; same output) — ``False`` runs the models as
    loaded (the reference); ``backend``: what runs the fast path's decoder (auto, torch, onednn,
    onnx: :mod:`rvclora.infer.backends`; ``torch`` forces plain PyTorch, for HuBERT's and RMVPE's packed
    layers too); other keywords are :class:`ConvertOptions`
    defaults, e.g. ``unvoiced_f0="fill"``
    (default: each voice's own convention, :attr:`Voice.unvoiced_f0`: the adapter's recorded training
    convention, else the configured ``unvoiced_f0``).
    """

    def __init__(
        self,
        base: PathLike | None = None,
        lora: PathLike | Sequence[PathLike] | None = None,
        *,
        model: PathLike | None = None,
        weights: str | Sequence[float | str] | None = None,
        scale: float = 1.0,
        each: bool = False,
        index: PathLike | None = None,
        hubert: PathLike | None = None,
        rmvpe: PathLike | None = None,
        f0_method: str | None = None,
        device: str | None = None,
        precision: str = "auto",
        chunking: ChunkConfig | None = None,
        force: bool = False,
        fast: bool = True,
        backend: str = "auto",
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(ConvertOptions.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"unknown conversion option(s): {', '.join(unknown)}")
        conversion = ConvertOptions(**options)
        config = ConverterConfig(
            lora=_paths(lora),
            weights=weights,
            scale=scale,
            each=each,
            model=_opt(model),
            base=_opt(base),
            index=_opt(index),
            hubert=_opt(hubert),
            rmvpe=_opt(rmvpe),
            f0_method=f0_method,
            device=device,
            precision=precision,
            chunking=chunking,
            force=force,
            fast=fast,
            backend=backend,
        )
        self._load(config, conversion)

    @classmethod
    def from_config(cls, config: ConverterConfig, options: ConvertOptions = DEFAULTS) -> Converter:
        """A Converter from typed settings, as the CLI builds them (:class:`ConverterConfig` says what loads,
        ``options`` are the conversion defaults of :meth:`convert`)."""
        converter = cls.__new__(cls)
        converter._load(config, options)
        return converter

    def _load(self, config: ConverterConfig, options: ConvertOptions) -> None:
        import torch

        self.options = options
        adapters = _paths(config.lora)
        model, base, index = _opt(config.model), _opt(config.base), _opt(config.index)
        scale, each, weights, force, fast = config.scale, config.each, config.weights, config.force, config.fast
        if model is not None and adapters:
            raise ConfigError(
                "give either --model (a plain RVC model) or --lora adapters, not both",
                "to apply an adapter to a model, pass the model as --base",
            )
        if model is None and not adapters:
            raise ConfigError("nothing to convert with", "pass --lora adapter.safetensors or --model voice.pth")
        if not 0 <= scale <= 4:
            raise ConfigError(f"--scale must be between 0 and 4, got {scale}")
        blend = parse_weights(weights, len(adapters), shares=True) if adapters and not each else None
        metas = [self._read_meta(p) for p in adapters]
        self.warnings: list[str] = []
        self._workspaces: dict[Path, Path | None] = {}
        self._find_workspaces(adapters, metas)
        workspace = next((self._workspaces[p] for p in adapters if self._workspaces[p] is not None), None)
        settings = asset_lookup.workspace_settings(workspace)
        found = asset_lookup.resolve_assets(
            settings, _opt(config.hubert), _opt(config.rmvpe), config.f0_method, config.device
        )
        self.device = found.device
        self.dtype = getattr(torch, resolve_precision(config.precision, self.device).torch_name)
        from rvclora.infer.backends import resolve_backend

        self.backend = resolve_backend(config.backend, self.device, str(self.dtype).removeprefix("torch."), config.fast)
        self.f0_method = found.f0_method
        self.rmvpe = found.rmvpe
        self.chunking = config.chunking or default_chunking(self.dtype != torch.float32, _gpu_memory_gb(self.device))
        from rvclora.features.hubert import load_content_encoder

        # HuBERT has no fp16 CPU kernels worth using; there only the synthesizer runs in half precision.
        cpu_half = self.dtype == torch.float16 and not self.device.startswith("cuda")
        # --backend torch and --eager keep HuBERT and RMVPE on plain PyTorch layers (the reference arithmetic)
        self.plain = Backend.parse(config.backend or "auto") is Backend.torch or not config.fast
        self.encoder = load_content_encoder(
            found.hubert,
            device=self.device,
            dtype=torch.float32 if cpu_half else self.dtype,
            packed=False if self.plain else None,
        )
        self._f0_cache: dict[bool, Any] = {}
        self._bases = BaseCache()
        self._index_path = index
        self._settings_base = _opt(settings.get("assets.base"))
        self._unvoiced_default = asset_lookup.default_unvoiced_f0()
        self.fast = fast
        self.voices: list[Voice] = []
        names = voice_names(adapters, model, each)
        if model is not None:
            self._add_voice(names[0], model, [], [], scale, force)
        elif each:
            for name, path, meta in zip(names, adapters, metas, strict=True):
                self._add_voice(name, self._base_for(base, [meta]), [path], [meta], scale, force)
        else:
            self._add_voice(
                names[0],
                self._base_for(base, metas),
                adapters,
                metas,
                scale,
                force,
                blend,
            )

    # --- loading ----------------------------------------------------------------------------------------
    @staticmethod
    def _read_meta(path: Path) -> AdapterMeta:
        from rvclora.lora.adapter import read_adapter

        return read_adapter(path)[1]

    def _base_for(self, base: Path | None, metas: list[AdapterMeta]) -> Path:
        """Explicit base > the path recorded in the adapter > assets.base of the settings."""
        if base is not None:
            return base
        for meta in metas:
            recorded = asset_lookup.recorded_base(meta)
            if recorded is not None and recorded.is_file():
                return recorded
        if self._settings_base is not None:
            return self._settings_base
        recorded = next((asset_lookup.recorded_base(m) for m in metas if asset_lookup.recorded_base(m)), None)
        where = f" (recorded: {recorded}, which no longer exists)" if recorded else ""
        raise ConfigError(f"no base model for the adapter{where}", "pass --base the base model it was trained on")

    def load_voice(
        self,
        lora: PathLike | Sequence[PathLike],
        weights: str | Sequence[float | str] | None = None,
        scale: float = 1.0,
        base: PathLike | None = None,
        force: bool = False,
    ) -> Voice:
        """One more voice (an adapter or an exact blend) on this converter's assets, not added to ``voices``:
        a stream switches to it while running (:mod:`rvclora.realtime`)."""
        adapters = _paths(lora)
        if not adapters:
            raise ConfigError("no adapter given for the new voice")
        metas = [self._read_meta(p) for p in adapters]
        self._find_workspaces(adapters, metas)
        return self._build_voice(
            voice_names(adapters, None, False)[0],
            self._base_for(_opt(base), metas),
            adapters,
            metas,
            scale,
            force,
            parse_weights(weights, len(adapters), shares=True),
        )

    def _find_workspaces(self, adapters: list[Path], metas: list[AdapterMeta]) -> None:
        """Each adapter's workspace (next to it first, then the one it recorded), once; warnings on the way."""
        for path, meta in zip(adapters, metas, strict=True):
            if path not in self._workspaces:
                workspace, warning = asset_lookup.adapter_workspace(path, meta)
                self._workspaces[path] = workspace
                self.warnings += [warning] if warning else []

    def _add_voice(
        self,
        name: str,
        base: Path,
        adapters: list[Path],
        metas: list[AdapterMeta],
        scale: float,
        force: bool,
        weights: list[float] | None = None,
    ) -> Voice:
        voice = self._build_voice(name, base, adapters, metas, scale, force, weights)
        self.voices.append(voice)
        return voice

    def _build_voice(
        self,
        name: str,
        base: Path,
        adapters: list[Path],
        metas: list[AdapterMeta],
        scale: float,
        force: bool,
        weights: list[float] | None = None,
    ) -> Voice:
        model = self._bases.get(base)
        check_encoder_fits(self.encoder, model, name)
        weights = weights or [1.0] * len(adapters)
        if adapters:
            attach_adapters(model, adapters, weights, scale, force)
        if self.fast:
            from rvclora.infer.fast import prepare_fast

            prepare_fast(model)  # in fp32, before any cast to half precision
        voice = Voice(
            name,
            finish(model, self.device, self.dtype),
            self.device,
            self.dtype,
            sources=[str(base), *map(str, adapters)],
            fast=self.fast,
            unvoiced_f0=blend_unvoiced_f0(metas, weights) or self._unvoiced_default,
        )
        if self.fast:
            from rvclora.infer.backends import tile_runner

            voice.backend, voice.tile_runner = self.backend, tile_runner(self.backend, voice.model.dec)
        dim = int(model.config.content_dim)
        if self._index_path is not None:
            voice.retrievers.append(load_retriever(self._index_path, dim))
        else:
            for adapter, weight in zip(adapters, weights, strict=True):
                workspace = self._workspaces.get(adapter)
                path = asset_lookup.find_index(workspace, voice.version)
                if path is not None and weight > 0:
                    voice.retrievers.append(load_retriever(path, dim, weight))
                elif workspace is not None and weight > 0:
                    self.warnings.append(
                        f"{adapter.name}: no {voice.version} retrieval index in {workspace / 'index'}"
                        ", so none is used (run rvclora extract there, or pass --index)"
                    )
        return voice

    def load_f0_estimator(self, method: str, **options: Any) -> Any:
        """A pitch estimator on this converter's assets and device (RMVPE plain under ``--backend torch``)."""
        from rvclora.features.f0 import load_f0_estimator

        if method == "rmvpe" and self.plain:
            options["packed"] = False
        return load_f0_estimator(method, rmvpe=self.rmvpe, device=self.device, **options)

    def _f0_estimator(self, median_filter: bool) -> Any:
        """The pitch estimator, loaded on first use (harvest's median filter is a constructor option)."""
        smooth = median_filter and self.f0_method == "harvest"
        if smooth not in self._f0_cache:
            extra = {"median_filter": True} if smooth else {}
            self._f0_cache[smooth] = self.load_f0_estimator(self.f0_method, **extra)
        return self._f0_cache[smooth]

    # --- converting -------------------------------------------------------------------------------------
    def analyze(self, audio: np.ndarray, sr: int, options: ConvertOptions | None = None) -> Analysis:
        """The voice-independent half of a conversion (reusable for every voice)."""
        options = options or self.options
        wav = _to_16k_mono(audio, sr)
        need_f0 = any(v.f0 for v in self.voices)
        estimator = self._f0_estimator(options.filter_radius > 2) if need_f0 else None
        return analyze(
            wav, self.encoder, estimator, {v.version for v in self.voices}, self.chunking, device=self.device
        )

    def convert_many(self, audio: np.ndarray, sr: int, **overrides: Any) -> list[Result]:
        """Convert one input to every voice, sharing HuBERT and F0 work. Returns one Result per voice."""
        options = self.options.with_(**overrides)
        start = time.perf_counter()
        analysis = self.analyze(audio, sr, options)
        shared = time.perf_counter() - start
        results = []
        for voice in self.voices:
            t0 = time.perf_counter()
            out, out_sr, timings = synthesize(analysis, voice, options, self.device)
            elapsed = time.perf_counter() - t0 + shared / len(self.voices)
            results.append(
                Result(
                    voice.name,
                    out,
                    out_sr,
                    analysis.duration,
                    elapsed,
                    self.f0_method if voice.f0 else None,
                    voice.index_name,
                    {**analysis.timings, **timings},
                    unvoiced_convention(voice, options) if voice.f0 else None,
                    voice.index_path,
                    list(self.warnings),
                )
            )
        return results

    def convert_prepared(
        self,
        prepared: PreparedInput,
        targets: Mapping[str, OutputTarget],
        workdir: PathLike,
        on_progress: Progress | None = None,
        **overrides: Any,
    ) -> list[Result]:
        """Convert an input prepared on disk (:func:`rvclora.infer.source.prepare_input`) piece by piece and
        write each voice's output to ``targets[voice name]``. Memory stays bounded whatever the input's length;
        ``workdir`` holds the temporary signals; ``on_progress(seconds_done, seconds_total)`` after each piece."""
        options = self.options.with_(**overrides)
        start = time.perf_counter()
        need_f0 = any(v.f0 for v in self.voices)
        estimator = self._f0_estimator(options.filter_radius > 2) if need_f0 else None
        sinks, timings = convert_pieces(
            prepared,
            self.voices,
            self.encoder,
            estimator,
            self.chunking,
            options,
            targets,
            Path(workdir),
            self.device,
            on_progress,
        )
        try:
            with timed(timings, "write"):
                for sink in sinks.values():
                    sink.write()
        finally:
            for sink in sinks.values():
                sink.close()
        elapsed = (time.perf_counter() - start) / len(self.voices)
        return [
            Result(
                v.name,
                None,
                sinks[v.name].sr,
                prepared.duration,
                elapsed,
                self.f0_method if v.f0 else None,
                v.index_name,
                dict(timings),
                unvoiced_convention(v, options) if v.f0 else None,
                v.index_path,
                list(self.warnings),
            )
            for v in self.voices
        ]

    def convert_file(
        self,
        source: PathLike,
        output: PathLike | None,
        format: str | None = None,
        subtype: str | None = None,
        on_progress: Progress | None = None,
        **overrides: Any,
    ) -> Result:
        """Convert an audio file of any length to ``output`` (None = stdout) in bounded memory (one voice)."""
        if len(self.voices) != 1:
            raise ConfigError(f"this converter has {len(self.voices)} voices", "use convert_prepared")
        dest = None if output is None else Path(output).expanduser()
        fmt = format or (dest.suffix.lstrip(".") if dest is not None and dest.suffix else "wav")
        with tempfile.TemporaryDirectory(prefix="rvclora-infer-") as work:
            prepared = prepare_input(Path(source).expanduser(), Path(work))
            try:
                target = OutputTarget(dest, fmt.lower(), subtype)
                return self.convert_prepared(prepared, {self.voices[0].name: target}, work, on_progress, **overrides)[0]
            finally:
                prepared.close()

    def convert(self, audio: np.ndarray, sr: int, **overrides: Any) -> tuple[np.ndarray, int]:
        """Convert ``audio`` (mono ``[samples]`` or ``[channels, samples]``) at rate ``sr`` to this voice."""
        if len(self.voices) != 1:
            raise ConfigError(f"this converter has {len(self.voices)} voices", "use convert_many")
        result = self.convert_many(audio, sr, **overrides)[0]
        assert result.audio is not None
        return result.audio, result.sr


def _opt(value: PathLike | None) -> Path | None:
    return Path(value).expanduser() if value else None


def _gpu_memory_gb(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.get_device_properties(torch.device(device)).total_memory / 1024**3


def _to_16k_mono(audio: np.ndarray, sr: int) -> np.ndarray:
    """Accept ``[samples]`` or ``[channels, samples]`` at any rate; return mono 16 kHz float32."""
    from rvclora.audio.io import resample

    wav = np.asarray(audio, dtype=np.float32)
    if wav.ndim == 2:
        wav = wav.mean(axis=0)
    if wav.ndim != 1:
        raise BadInputError(f"audio must be [samples] or [channels, samples], got shape {wav.shape}")
    if not np.isfinite(wav).all():
        raise BadInputError("audio contains NaN or infinite samples", "clean the input first")
    if int(sr) <= 0:
        raise BadInputError(f"invalid sample rate {sr}")
    return resample(wav, int(sr), 16000) if wav.size else wav
