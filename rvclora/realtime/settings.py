"""Streaming settings and their defaults (torch-free, so ``rvclora stream --help`` and the docs read them here).

Every length is in seconds and a whole number of 10 ms pitch frames, the grid every stage of RVC works on.
The defaults come from measurements (docs/realtime.md): ``context`` is where most of the quality is won back
(HuBERT's positional convolution and the text encoder's attention look far left), ``lookahead`` is what
each block's last frames need from the future, and ``crossfade`` hides what still differs at a seam.
"""

from __future__ import annotations

from dataclasses import dataclass

from rvclora.errors import ConfigError

FRAME = 0.01  # seconds per pitch frame
#: pitch methods fast enough per block; harvest is replaced by dio, its cheap sibling in the same library
REALTIME_F0 = ("rmvpe", "fcpe", "dio", "pm")


@dataclass(frozen=True)
class StreamSettings:
    """How a stream cuts its input: ``block`` new seconds per step, ``context`` seconds of past audio the
    models see again, ``lookahead`` seconds held back so the newest frames have some future, ``crossfade``
    seconds over which consecutive blocks overlap, ``pitch_context`` seconds of past audio the pitch
    estimator sees before the block (at most ``context``: a block's pitch is estimated once, so the
    estimator needs only enough past for its own filters, not the whole window)."""

    block: float = 0.25
    context: float = 1.0
    lookahead: float = 0.05
    crossfade: float = 0.05
    pitch_context: float = 0.5

    def __post_init__(self) -> None:
        for name in ("block", "context", "lookahead", "crossfade", "pitch_context"):
            value = getattr(self, name)
            if value < 0 or abs(value / FRAME - round(value / FRAME)) > 1e-6:
                flag = name.replace("_", "-")
                raise ConfigError(f"--{flag} must be a non-negative multiple of 0.01 s, got {value}")
        if not 0.02 <= self.block <= 5:
            raise ConfigError(f"--block must be between 0.02 and 5 s, got {self.block}")
        if self.crossfade >= self.block or self.crossfade > self.context:
            raise ConfigError(
                f"--crossfade ({self.crossfade}s) must be shorter than --block ({self.block}s) and "
                f"no longer than --context ({self.context}s)"
            )

    def frames(self, name: str) -> int:
        return int(round(getattr(self, name) / FRAME))

    @property
    def latency(self) -> float:
        """Algorithmic latency in seconds: a block fills, then waits for its lookahead and crossfade."""
        return self.block + self.lookahead + self.crossfade


DEFAULTS = StreamSettings()


def check_rate(sr: int, what: str = "--sr") -> int:
    """Streams need a whole number of samples per 10 ms frame."""
    if sr < 8000 or sr % 100:
        raise ConfigError(
            f"{what} {sr} is not supported for streaming",
            "use a rate that is a multiple of 100 Hz, e.g. 16000, 44100 or 48000",
        )
    return sr
