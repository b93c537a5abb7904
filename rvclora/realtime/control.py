"""Changes while a stream runs, one text line each: ``pitch 3``, ``up``/``down [N]``, ``voice b.safetensors``,
``voice a.safetensors,b.safetensors 0.7,0.3``, ``index-rate 0.5``, ``protect 0.4``, ``rms-mix-rate 1``.

The live prompt and ``rvclora stream --control`` share this parser. A voice loads in the caller's thread
(never the audio thread) and takes effect at the next block; one that fails to load leaves the current voice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rvclora.errors import ConfigError, RvcloraError

if TYPE_CHECKING:
    from rvclora.realtime.stream import Stream

_OPTIONS = {"index-rate": "index_rate", "protect": "protect", "rms-mix-rate": "rms_mix_rate"}
HELP = "pitch N | up [N] | down [N] | voice A[,B] [WA,WB] | index-rate X | protect X | rms-mix-rate X"


@dataclass(frozen=True)
class Outcome:
    """What one control line did: ``ok`` False means nothing changed and ``message`` says why."""

    ok: bool
    message: str


def apply(line: str, stream: Stream) -> Outcome:
    """Carry out one control line on ``stream``; user errors become a failed Outcome, never an exception."""
    words = line.split()
    if not words:
        return Outcome(False, "empty command; " + HELP)
    try:
        return _apply(words[0].lower(), words[1:], stream)
    except RvcloraError as exc:
        return Outcome(False, str(exc))


def _apply(cmd: str, args: list[str], stream: Stream) -> Outcome:
    if cmd == "pitch" and len(args) == 1:
        return _pitch(stream, _number(args[0], "pitch"))
    if cmd in ("up", "down") and len(args) <= 1:
        step = _number(args[0], cmd) if args else 1.0
        return _pitch(stream, stream.requested_options.pitch + (step if cmd == "up" else -step))
    if cmd in _OPTIONS and len(args) == 1:
        options = stream.set_options(**{_OPTIONS[cmd]: _number(args[0], cmd)})
        return Outcome(True, f"{cmd} {getattr(options, _OPTIONS[cmd]):g} from the next block")
    if cmd == "voice" and len(args) in (1, 2):
        paths = [p for p in args[0].split(",") if p]
        weights = [_number(w, "weight") for w in args[1].split(",") if w] if len(args) == 2 else None
        voice = stream.load_voice(paths, weights)
        return Outcome(True, f"voice {voice.name} from the next block")
    raise ConfigError(f"unknown command {' '.join([cmd, *args])!r}", HELP)


def _pitch(stream: Stream, semitones: float) -> Outcome:
    options = stream.set_options(pitch=semitones)
    return Outcome(True, f"pitch {options.pitch:+g} semitones from the next block")


def _number(text: str, what: str) -> Any:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{what} must be a number, got {text!r}") from None
