"""``rvclora eval --phones``: the phone error rate of a conversion against its source, behind the 'phones' extra."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers_assets import harmonic_voice
from helpers_assets import run_cli as run

import rvclora.evaluate.phones as phones

SR = 16000


@pytest.fixture()
def pair(tmp_path: Path) -> Path:
    sf.write(tmp_path / "src.wav", harmonic_voice(180.0), SR)
    sf.write(tmp_path / "conv.wav", harmonic_voice(240.0, seed=1), SR)
    return tmp_path


class _FakeRecognizer:
    """Reads the reference (first call of a pair) as 'a b c d' and the conversion as 'a x c': one phone dropped,
    one changed, so PER = 2/4."""

    def __init__(self) -> None:
        self.calls = 0

    def phones(self, wav_16k: np.ndarray) -> list[str]:
        self.calls += 1
        return ["a", "b", "c", "d"] if self.calls % 2 else ["a", "x", "c"]


def test_edit_distance_and_rate() -> None:
    assert phones.edit_distance("abcd", "axc") == 2
    assert phones.phone_error_rate(list("abcd"), list("abcd")) == 0.0
    assert phones.phone_error_rate(list("abcd"), list("axc")) == 0.5
    assert phones.phone_error_rate([], list("a")) is None


@pytest.mark.slow
def test_phone_error_rate_is_reported_when_asked(
    capsys: pytest.CaptureFixture[str], pair: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(phones, "PhoneRecognizer", _FakeRecognizer)
    code, out, err = run(capsys, "eval", pair / "src.wav", pair / "conv.wav", "--phones", "--no-speaker", "--json")
    assert code == 0, err
    assert json.loads(out)["phone_error_rate"] == 0.5
    code, out, _ = run(capsys, "eval", pair / "src.wav", pair / "conv.wav", "--phones", "--no-speaker")
    assert code == 0 and "PER" in out and "0.500" in out


def test_without_phones_the_metric_is_absent(capsys: pytest.CaptureFixture[str], pair: Path) -> None:
    code, out, _ = run(capsys, "eval", pair / "src.wav", pair / "conv.wav", "--no-speaker", "--json")
    assert code == 0 and "phone_error_rate" not in json.loads(out)


def test_missing_extra_is_one_line(
    capsys: pytest.CaptureFixture[str], pair: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # import fails as when the extra is not installed
    code, _, err = run(capsys, "eval", pair / "src.wav", pair / "conv.wav", "--phones", "--no-speaker")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "rvclora[phones]" in err
