"""The preprocess stage: filters, slicer, windows, bad inputs, incremental runs and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rvclora.audio import preprocess as pp
from rvclora.audio.filters import highpass, normalize_clip
from rvclora.audio.preprocess import PreprocessParams, find_sources, preprocess, preprocess_workspace
from rvclora.audio.slicer import SlicerParams, slice_silence, split_windows
from rvclora.errors import BadInputError, WorkspaceBusyError
from rvclora.workspace import Workspace
from rvclora.workspace.manifest import Manifest

SR = 16000  # slicer tests run at 16 kHz: hop 240, frame 960 samples


def tone(seconds: float, sr: int = SR, freq: float = 220.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds: float, sr: int = SR) -> np.ndarray:
    return np.zeros(round(seconds * sr), dtype=np.float32)


# --- filters -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_highpass_removes_dc_and_rumble_keeps_voice_band() -> None:
    sr = 40000
    low, high = tone(2, sr, 15.0), tone(2, sr, 1000.0)
    half = slice(sr, None)  # after the filter settled
    assert abs(highpass(low + 0.3, sr)[half].mean()) < 1e-3
    assert np.abs(highpass(low, sr)[half]).max() < 0.5 * 0.01  # 15 Hz: > 40 dB down
    assert np.abs(highpass(high, sr)[half]).max() == pytest.approx(0.5, rel=0.01)


def test_normalisation_formula_by_hand() -> None:
    x = np.array([0.5, -1.0, 0.25], dtype=np.float32)  # peak 1: y = x * 0.9 * 0.75 + 0.25 * x = 0.925 x
    np.testing.assert_allclose(normalize_clip(x), [0.4625, -0.925, 0.23125], rtol=1e-6)
    y = np.array([0.1, -0.2], dtype=np.float32)  # peak 0.2: y = x / 0.2 * 0.675 + 0.25 x
    np.testing.assert_allclose(normalize_clip(y), [0.1 / 0.2 * 0.675 + 0.025, -0.675 - 0.05], rtol=1e-6)


def test_peak_guard_drops_only_above_limit() -> None:
    assert normalize_clip(np.array([3.0, 0.1], dtype=np.float32)) is None
    assert normalize_clip(np.array([2.5, 0.1], dtype=np.float32)) is not None  # "> 2.5" drops, 2.5 stays
    assert normalize_clip(np.zeros(10, dtype=np.float32)) is None  # digital silence


# --- slicer and windows --------------------------------------------------------------------------------


def test_slicer_cuts_long_silences_keeping_at_most_max_sil_kept() -> None:
    # 2 s tone | 1.5 s silence | 2 s tone | 1.5 s silence | 2 s tone
    audio = np.concatenate([tone(2), silence(1.5), tone(2), silence(1.5), tone(2)])
    ranges = slice_silence(audio, SR)
    assert len(ranges) == 3
    tol = 0.05 * SR  # half an RMS frame (30 ms) plus a hop (15 ms)
    # In an all-zero gap the quietest frame is the first one on each side searched: the cut keeps almost
    # nothing after a slice and exactly max_sil_kept (0.5 s) before the next one.
    expected = [(0.0, 2.0), (3.5 - 0.5, 5.5), (7.0 - 0.5, 9.0)]
    for (start, end), (e0, e1) in zip(ranges, expected, strict=True):
        assert abs(start - e0 * SR) <= tol and abs(end - e1 * SR) <= tol, (start / SR, end / SR)


def test_slicer_keeps_short_pauses_and_short_audio() -> None:
    audio = np.concatenate([tone(2), silence(0.2), tone(2)])  # 200 ms < min_interval 400 ms
    assert slice_silence(audio, SR) == [(0, len(audio))]
    short = np.concatenate([tone(0.5), silence(0.8)])  # shorter than min_length 1.5 s: returned whole
    assert slice_silence(short, SR) == [(0, len(short))]
    assert slice_silence(silence(5), SR) == []


def test_slicer_leading_and_trailing_silence() -> None:
    audio = np.concatenate([silence(1.0), tone(3), silence(1.0)])
    [(start, end)] = slice_silence(audio, SR)
    tol = 0.05 * SR
    assert abs(start - 0.5 * SR) <= tol  # leading: keeps max_sil_kept before the sound
    assert abs(end - 4.0 * SR) <= tol  # trailing: cut right after the sound


def test_slicer_respects_custom_threshold() -> None:
    quiet = np.concatenate([tone(2), tone(1.0, amp=0.02), tone(2)])  # 0.02 / sqrt 2 ~ -37 dB RMS
    assert len(slice_silence(quiet, SR)) == 1  # above -42 dB: not silence
    assert len(slice_silence(quiet, SR, SlicerParams(threshold_db=-30))) == 2


def test_windows_of_a_ten_second_slice() -> None:
    sr = 40000  # step 3.4 s = 136000, window 3.7 s = 148000, tail limit 4.0 s = 160000
    assert split_windows(10 * sr, sr) == [(0, 148000), (136000, 284000), (272000, 400000)]
    assert split_windows(4 * sr, sr) == [(0, 4 * sr)]  # exactly 4.0 s left: one piece
    assert split_windows(164000, sr) == [(0, 148000), (136000, 164000)]


# --- the stage on files --------------------------------------------------------------------------------

PARAMS = PreprocessParams()


def _run(
    sources_dir: Path,
    root: Path,
    params: PreprocessParams = PARAMS,
    workers: int = 1,
    sr: int = 32000,
    speaker_id: int = 0,
) -> pp.PreprocessSummary:
    return preprocess(
        find_sources(sources_dir, speaker_id),
        sr=sr,
        clips_dir=root / "clips" / "32k",
        clips_16k_dir=root / "clips" / "16k",
        params=params,
        manifest=Manifest(root / ".rvclora" / "manifest.json", root),
        workers=workers,
    )


def _speech_like(seconds: float, sr: int) -> np.ndarray:
    half = seconds / 2 - 0.4
    return np.concatenate([tone(half, sr), silence(0.8, sr), tone(half, sr, 330.0)])


@pytest.mark.slow
def test_bad_and_odd_inputs(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "empty.wav").write_bytes(b"")
    (raw / "corrupt.wav").write_bytes(b"RIFF" + bytes(range(256)) * 4)
    sf.write(raw / "silent.wav", silence(3, 22050), 22050)
    nan = _speech_like(3, 22050)
    nan[100] = np.nan
    sf.write(raw / "nan.wav", nan, 22050, subtype="FLOAT")
    sf.write(raw / "too_short.wav", tone(0.6, 22050), 22050)
    sf.write(raw / "loud.wav", tone(3, 22050, amp=3.0), 22050, subtype="FLOAT")
    sf.write(raw / "eight_bit.wav", tone(3, 22050), 22050, subtype="PCM_U8")
    sf.write(raw / "surround.wav", np.tile(tone(3, 44100)[:, None], (1, 6)) / 2, 44100)  # 5.1
    sf.write(raw / "hires.wav", tone(3, 192000), 192000)
    sf.write(raw / "single.ogg", tone(1.5, 22050), 22050)

    summary = _run(raw, tmp_path)
    skipped = {s["file"]: s["reason"] for s in summary.skipped}
    assert set(skipped) == {"empty.wav", "corrupt.wav", "silent.wav", "nan.wav", "too_short.wav", "loud.wav"}
    assert "NaN" in skipped["nan.wav"] and "silent" in skipped["silent.wav"]
    assert "too short" in skipped["too_short.wav"] and "peaks above 2.5" in skipped["loud.wav"]
    assert "decode" in skipped["corrupt.wav"] and "decode" in skipped["empty.wav"]
    assert summary.files == 10 and summary.processed == 10
    clips = sorted((tmp_path / "clips" / "32k").iterdir())
    names = [c.name for c in clips]
    for stem in ("eight_bit", "surround", "hires"):
        assert sum(n.startswith(f"0_{stem}_") for n in names) == 1, names  # 3 s fits one window
    assert sum(n.startswith("0_single_") for n in names) == 1  # shorter than a window: one clip
    assert summary.clips == len(clips) == 4
    for clip in clips:
        info, info16 = sf.info(clip), sf.info(tmp_path / "clips" / "16k" / clip.name)
        assert (info.samplerate, info.channels, info.subtype) == (32000, 1, "FLOAT")
        assert (info16.samplerate, info16.subtype) == (16000, "FLOAT")
        assert info16.frames == pytest.approx(info.frames / 2, abs=2)
        peak = np.abs(sf.read(clip)[0]).max()
        # normalised: 0.9 * 0.75 + 0.25 x the peak before (0.5, plus a little high-pass overshoot)
        assert 0.675 < peak <= 0.675 + 0.25 * 0.6


def test_speaker_folders_and_names(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for folder in ("bob", "alice", "alice/session 2"):
        (raw / folder).mkdir(parents=True)
    sf.write(raw / "bob" / "x.wav", tone(2, 16000), 16000)
    sf.write(raw / "alice" / "x.wav", tone(2, 16000), 16000)
    sf.write(raw / "alice" / "x.flac", tone(2, 16000), 16000)
    sf.write(raw / "alice" / "session 2" / "tä ke.wav", tone(2, 16000), 16000)
    sf.write(raw / "top.wav", tone(2, 16000), 16000)
    sources = {s.key: s.speaker_id for s in find_sources(raw, default_speaker_id=7)}
    assert sources == {
        "top.wav": 7,
        "alice/x.wav": 0,
        "alice/x.flac": 0,
        "alice/session 2/tä ke.wav": 0,
        "bob/x.wav": 1,
    }
    _run(raw, tmp_path, speaker_id=7)
    names = sorted(p.name for p in (tmp_path / "clips" / "32k").iterdir())
    assert len(names) == len(set(names)) == 5  # x.wav and x.flac do not collide
    assert all(n.split("_")[0] in {"0", "1", "7"} and n.isascii() and " " not in n for n in names)
    m = Manifest(tmp_path / ".rvclora" / "manifest.json", tmp_path)
    assert m.entry("preprocess", "bob/x.wav")["info"]["speaker_id"] == 1
    assert m.entry("preprocess", "bob/x.wav")["outputs"][0].startswith("clips/32k/1_x_")
    records = pp.list_clips(m)
    assert [r.clip.name for r in records] == names
    assert all(r.clip_16k.parent.name == "16k" and r.clip_16k.name == r.clip.name for r in records)
    assert {(r.source, r.speaker_id) for r in records} == set(sources.items())


def test_incremental_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(3):
        sf.write(raw / f"s{i}.wav", _speech_like(9, 22050), 22050)
    first = _run(raw, tmp_path, workers=2)
    assert first.processed == 3 and first.clips > 3
    clips_dir = tmp_path / "clips" / "32k"
    before = {p.name: p.stat().st_mtime_ns for p in clips_dir.iterdir()}

    calls = []
    real = pp._process
    monkeypatch.setattr(pp, "_process", lambda job: calls.append(job) or real(job))
    again = _run(raw, tmp_path)
    assert calls == [] and again.processed == 0 and again.up_to_date == 3 and again.clips == first.clips
    assert {p.name: p.stat().st_mtime_ns for p in clips_dir.iterdir()} == before

    shorter = PreprocessParams(window_s=2.0)  # a changed setting redoes everything, old clips go
    third = _run(raw, tmp_path, params=shorter)
    assert len(calls) == 3 and third.processed == 3 and third.clips > first.clips
    assert len(list(clips_dir.iterdir())) == third.clips

    (raw / "s1.wav").unlink()  # a removed source loses its clips
    (clips_dir / "stray.wav").write_bytes(b"")  # and clips nobody owns are swept
    fourth = _run(raw, tmp_path, params=shorter)
    assert fourth.removed == 1 and fourth.processed == 0 and len(calls) == 3
    assert not any(p.name.startswith("0_s1_") or p.name == "stray.wav" for p in clips_dir.iterdir())
    assert len(list(clips_dir.iterdir())) == len(list((tmp_path / "clips" / "16k").iterdir())) == fourth.clips


def test_interrupted_run_leaves_nothing_half_written_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(3):
        sf.write(raw / f"s{i}.wav", _speech_like(9, 22050), 22050)
    real_write = pp.save_audio
    writes = []

    def flaky_write(path, *args, **kwargs):
        writes.append(path)
        if len(writes) == 7:  # in the middle of the second source
            real_write(path, *args, **kwargs)
            raise KeyboardInterrupt
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(pp, "save_audio", flaky_write)
    with pytest.raises(KeyboardInterrupt):
        _run(raw, tmp_path)
    monkeypatch.setattr(pp, "save_audio", real_write)
    every = [p for d in ("32k", "16k") for p in (tmp_path / "clips" / d).iterdir()]
    assert not [p for p in every if p.name.startswith(".")]  # no temporary files survive
    m = Manifest(tmp_path / ".rvclora" / "manifest.json", tmp_path)
    assert m.keys("preprocess") == ["s0.wav"]  # only the completed source is recorded
    resumed = _run(raw, tmp_path)
    assert resumed.up_to_date == 1 and resumed.processed == 2
    assert len(list((tmp_path / "clips" / "32k").iterdir())) == resumed.clips


# --- workspace wrapper and CLI -------------------------------------------------------------------------


def test_preprocess_workspace_holds_the_lock(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "v", overrides={"sr": "32k", "preprocess.workers": 1})
    ws.save_settings()
    ws.input_dir.mkdir()
    sf.write(ws.input_dir / "a.wav", _speech_like(5, 22050), 22050)
    import socket

    ws.state_dir.mkdir(exist_ok=True)
    (ws.state_dir / "lock").write_text(
        json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "command": "train", "since": "now"})
    )
    with pytest.raises(WorkspaceBusyError, match="rvclora train"):
        preprocess_workspace(ws)
    (ws.state_dir / "lock").unlink()
    summary = preprocess_workspace(ws)
    assert summary.clips >= 1 and (ws.root / "clips" / "32k").is_dir()
    assert not (ws.state_dir / "lock").exists()


def test_empty_input_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "notes.txt").write_text("not audio")
    with pytest.raises(BadInputError, match="no audio files"):
        find_sources(tmp_path / "raw")
    with pytest.raises(BadInputError, match="input folder not found"):
        find_sources(tmp_path / "missing")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = f"from rvclora.cli import main\nmain({list(args)!r})\n"
    # A wide "terminal": rich wraps stderr at 80 columns when it is not a tty; the message itself is one line.
    env = {**os.environ, "COLUMNS": "500"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


@pytest.mark.slow
def test_cli_empty_input_folder_exit_2_one_line(tmp_path: Path) -> None:
    (tmp_path / "v" / "raw").mkdir(parents=True)
    res = _cli("preprocess", "v", cwd=tmp_path)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no audio files" in lines[0], res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_cli_json_and_recorded_overrides(tmp_path: Path) -> None:
    src = tmp_path / "recordings"
    src.mkdir()
    sf.write(src / "a.wav", _speech_like(5, 22050), 22050)
    res = _cli("preprocess", "v", "--input", "recordings", "--sr", "32k", "--workers", "1", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["files"] == 1 and data["processed"] == 1 and data["clips"] >= 1
    assert data["clips_dir"].endswith("clips/32k")
    ws = Workspace.open(tmp_path / "v", create=False)
    assert ws.settings.sr == "32k" and ws.input_dir == src.resolve() and ws.settings.preprocess.workers == 1
