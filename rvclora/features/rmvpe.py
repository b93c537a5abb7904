"""RMVPE pitch estimation: checkpoint loading, mel front end, batched inference and cents decoding.

Reproduces upstream RVC's ``infer/lib/rmvpe.py`` numerically (rvc-interop.md §9) so F0 curves extracted here
match the ones RVC users' models were trained on. The network itself is :mod:`rvclora.features.rmvpe_net`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rvclora.devices import resolve_device
from rvclora.errors import BadInputError, ConfigError
from rvclora.features.rmvpe_net import N_BINS, N_MELS, BiGRU, RmvpeArch, RmvpeNet
from rvclora.features.rmvpe_packed import pack_rmvpe, packed_conv_available
from rvclora.fileio import safe_torch_load
from rvclora.onednn import want_packed

SAMPLE_RATE = 16000
HOP = 160
N_FFT = 1024
FMIN, FMAX = 30.0, 8000.0
LOG_CLAMP = 1e-5
DEFAULT_THRESHOLD = 0.03
# bin i is 20·i cents above this (cents relative to 10 Hz): 31.7 Hz … 2005.5 Hz
CENTS_OFFSET = 1997.3794084376191
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def mel_basis() -> np.ndarray:
    """The 128×513 HTK mel filterbank (Slaney-normalised, as librosa's default norm) RMVPE was trained with."""
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX, htk=True)


def salience_to_f0(salience: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Decode salience ``[T, 360]`` to F0 in Hz (0 = unvoiced), upstream's local weighted average.

    Per frame: the cents of the 9 bins centred on the strongest one, averaged with the salience as
    weights (bins beyond the ends count as zero); a frame whose peak salience is ≤ ``threshold`` is
    unvoiced. Computed in float64 like upstream, so voicing decisions on the threshold edge agree.
    """
    sal = np.asarray(salience, dtype=np.float32)
    cents = 20.0 * np.arange(N_BINS, dtype=np.float64) + CENTS_OFFSET
    padded_sal = np.pad(sal, ((0, 0), (4, 4)))
    padded_cents = np.pad(cents, (4, 4))
    window = np.argmax(sal, axis=1)[:, None] + np.arange(9)[None, :]  # bins centre-4..centre+4, padded coords
    weights = np.take_along_axis(padded_sal, window, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = (weights * padded_cents[window]).sum(axis=1) / weights.sum(axis=1)
    avg[sal.max(axis=1) <= threshold] = 0.0
    f0 = 10.0 * 2.0 ** (avg / 1200.0)
    f0[f0 == 10.0] = 0.0
    return f0


def _check_state_dict(state: object, name: str) -> RmvpeArch:
    """Validate a loaded object as an RMVPE state_dict and return its sizes; a one-line error otherwise."""

    def refuse(why: str) -> BadInputError:
        return BadInputError(
            f"not an RMVPE checkpoint: {name} {why}", "pass upstream's rmvpe.pt (assets/rmvpe/rmvpe.pt)"
        )

    if not isinstance(state, Mapping):
        raise refuse(f"holds a {type(state).__name__}, not a state_dict")
    if {"weight", "config"} <= state.keys() or "model" in state:
        raise refuse("looks like an RVC voice model or training checkpoint")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise refuse(f"has non-tensor entries ({', '.join(map(str, bad[:3]))})")
    try:
        arch = RmvpeArch.from_state_dict(state)
    except KeyError as exc:
        raise refuse(f"has no key {exc}") from None
    if arch.n_blocks == 0 or arch.en_de_layers == 0 or arch.inter_layers == 0:
        raise refuse("lacks the U-Net encoder/intermediate blocks")
    if N_MELS % arch.time_multiple:
        raise refuse(f"has {arch.en_de_layers} encoder stages, too many for {N_MELS} mel bands")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in RmvpeNet(arch).state_dict().items()}
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = [f"missing {', '.join(missing[:3])}"] if missing else []
        parts += [f"unexpected {', '.join(extra[:3])}"] if extra else []
        raise refuse("has other keys than the network: " + "; ".join(parts))
    wrong = [f"{k} {tuple(state[k].shape)} (expected {s})" for k, s in expected.items() if tuple(state[k].shape) != s]
    if wrong:
        raise refuse(f"has inconsistent shapes: {wrong[0]}")
    return arch


class Rmvpe:
    """A loaded RMVPE model: waveform at 16 kHz → salience → F0 at 100 frames/s (``N//160 + 1`` frames).

    ``dtype`` float16/bfloat16 runs the network in reduced precision (sensible on GPU only); the mel front end
    and the decoding always run in float32/float64. ``gru_windows`` (chunk, margin) in frames runs the BiGRU of
    long inputs as overlapping windows in one batch (:class:`~rvclora.features.rmvpe_net.BiGRU`), for a GPU,
    where a long input's cost is its thousands of sequential GRU steps. It is off by default: how much margin
    gives upstream's output depends on how long the trained GRU remembers, which cannot be checked here
    without the real ``rmvpe.pt`` (docs/performance.md has the measured speed and the bound on test weights).
    ``packed`` (None = wherever it applies: CPU, fp32, a torch with oneDNN) folds the batch norms and runs the
    U-Net on packed oneDNN convolutions (:mod:`rvclora.features.rmvpe_packed`); False keeps plain PyTorch.
    """

    def __init__(
        self,
        net: RmvpeNet,
        device: str | torch.device = "cpu",
        dtype: str = "float32",
        channels_last: bool = False,
        gru_windows: tuple[int, int] | None = None,
        packed: bool | None = None,
    ) -> None:
        if dtype not in _DTYPES:
            raise ConfigError(f"unknown RMVPE dtype {dtype!r}", f"use one of: {', '.join(_DTYPES)}")
        self.device = resolve_device(device)
        self.dtype = _DTYPES[dtype]
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        # torch's stubs leave out Module.to's memory_format keyword
        self.net = net.eval().to(self.device, self.dtype, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.packed = want_packed(packed, self.device, self.dtype, packed_conv_available(), "RMVPE")
        if self.packed:
            pack_rmvpe(self.net)
        gru = self.net.fc[0]
        if isinstance(gru, BiGRU):
            gru.gru.flatten_parameters()  # one weight block for cuDNN, not a compaction on every call
            gru.windows = gru_windows
        self._mel_fb = torch.from_numpy(mel_basis()).to(self.device)
        self._window = torch.hann_window(N_FFT, device=self.device)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **kwargs: object) -> Rmvpe:
        """Load upstream's bare-state_dict ``rmvpe.pt`` (any size, fp16 or fp32), checking it before any work."""
        p = Path(path)
        state = safe_torch_load(p, "RMVPE checkpoint")
        arch = _check_state_dict(state, p.name)
        net = RmvpeNet(arch)
        net.load_state_dict(state)
        return cls(net, **kwargs)  # type: ignore[arg-type]

    @torch.inference_mode()
    def mel(self, wav: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, 128, N//160 + 1]`` (float32) of ``[N]`` or ``[B, N]`` audio at 16 kHz."""
        x = torch.as_tensor(wav, dtype=torch.float32, device=self.device)
        x = x.unsqueeze(0) if x.dim() == 1 else x
        n = x.shape[-1]
        if n <= N_FFT // 2:  # reflect padding needs more samples than the half window: pad, crop frames below
            x = F.pad(x, (0, N_FFT // 2 + 1 - n))
        spec = torch.stft(
            x, N_FFT, HOP, N_FFT, window=self._window, center=True, pad_mode="reflect", return_complex=True
        )
        magnitude = torch.sqrt(spec.real**2 + spec.imag**2)
        mel = torch.matmul(self._mel_fb, magnitude)
        return torch.log(torch.clamp(mel, min=LOG_CLAMP))[..., : n // HOP + 1]

    @torch.inference_mode()
    def salience(self, mel: torch.Tensor) -> torch.Tensor:
        """Salience ``[B, T, 360]`` (float32) for log-mel ``[B, 128, T]``; frames zero-padded for the U-Net."""
        frames = mel.shape[-1]
        multiple = self.net.arch.time_multiple
        mel = F.pad(mel, (0, -frames % multiple))
        return self.net(mel.to(self.device, self.dtype))[:, :frames].float()

    def f0(self, wav: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
        """F0 in Hz (float64, 0 = unvoiced) for one 16 kHz waveform ``[N]``: ``N//160 + 1`` frames."""
        sal = self.salience(self.mel(wav))[0].cpu().numpy()
        return salience_to_f0(sal, threshold)

    def f0_many(
        self, wavs: Sequence[np.ndarray], threshold: float = DEFAULT_THRESHOLD, batch_size: int = 8
    ) -> list[np.ndarray]:
        """F0 for many clips, batching clips whose padded frame count is equal.

        Only equal-length inputs share a batch, so every result is exactly what :meth:`f0` gives for that clip
        alone (the BiGRU would otherwise see extra padding). Sliced training clips are mostly equal-length.
        """
        multiple = self.net.arch.time_multiple
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(wavs):
            frames = len(w) // HOP + 1
            groups.setdefault(frames + (-frames % multiple), []).append(i)
        out: list[np.ndarray] = [np.empty(0)] * len(wavs)
        for padded, members in groups.items():
            for start in range(0, len(members), max(1, batch_size)):
                chunk = members[start : start + max(1, batch_size)]
                mels = torch.cat([F.pad(m := self.mel(wavs[i]), (0, padded - m.shape[-1])) for i in chunk])
                sal = self.salience(mels).cpu().numpy()
                for row, i in enumerate(chunk):
                    out[i] = salience_to_f0(sal[row, : len(wavs[i]) // HOP + 1], threshold)
        return out
