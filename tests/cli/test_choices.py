"""Each fixed choice is defined once (rvclora.choices); the schema, the library and the CLI all read it there."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_assets import run_cli

from rvclora.choices import (
    AudioFormat,
    F0Method,
    F0Setting,
    ModelVersion,
    PcmSample,
    Precision,
    SampleRate,
    TargetPreset,
    UnvoicedF0,
)
from rvclora.errors import ConfigError


def test_values_are_today_s_strings() -> None:
    """YAML, JSON and adapter metadata keep the strings they always had."""
    assert F0Setting.values() == ("auto", "rmvpe", "harvest", "dio", "pm", "crepe", "fcpe")
    assert F0Setting.values()[1:] == F0Method.values()
    assert SampleRate.values() == ("32k", "40k", "48k") and SampleRate.r48k.hz == 48000
    assert ModelVersion.values() == ("v1", "v2") and UnvoicedF0.values() == ("zero", "fill")
    assert Precision.values() == ("auto", "fp32", "fp16", "bf16") and PcmSample.values() == ("s16le", "f32le")
    assert TargetPreset.values() == ("voice", "decoder", "flow", "encoder", "decoder+flow", "all")
    assert (
        Precision.fp16 == "fp16" and f"{Precision.bf16}" == "bf16" and str(TargetPreset.decoder_flow) == "decoder+flow"
    )


def test_library_and_schema_read_the_one_definition() -> None:
    from rvclora.audio.io import OUTPUT_EXTENSIONS
    from rvclora.features.f0 import F0_METHODS
    from rvclora.lora.config import DEFAULT_PRESET, PRESETS
    from rvclora.workspace.schema import KEYS, SAMPLE_RATES

    assert tuple(PRESETS) == TargetPreset.values() and DEFAULT_PRESET == "voice" and type(DEFAULT_PRESET) is str
    assert F0_METHODS == F0Method.values()
    assert tuple(OUTPUT_EXTENSIONS) == AudioFormat.values() and OUTPUT_EXTENSIONS["aif"] == "AIFF"
    assert SAMPLE_RATES == {"32k": 32000, "40k": 40000, "48k": 48000}
    assert KEYS["f0_method"].choices == F0Setting.values() and KEYS["train.precision"].choices == Precision.values()
    assert KEYS["version"].choices == ModelVersion.values() and KEYS["unvoiced_f0"].choices == UnvoicedF0.values()


def test_parse_ignores_case_and_names_the_choices() -> None:
    assert F0Method.parse(" Harvest ") is F0Method.harvest and AudioFormat.parse(".FLAC") is AudioFormat.flac
    with pytest.raises(ConfigError, match=r"unknown F0 method 'auto'") as info:
        F0Method.parse("auto")
    assert info.value.hint == "use one of: rmvpe, harvest, dio, pm, crepe, fcpe"


def test_unknown_choice_on_the_command_line_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "preprocess", str(tmp_path / "ws"), "--sr", "44k")
    assert code == 2 and err.strip() == "error: unknown sample rate '44k' (use one of: 32k, 40k, 48k)"
    assert not (tmp_path / "ws").exists()


def test_help_lists_the_choices_and_target_presets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = run_cli(capsys, "infer", "--help")
    assert "[auto|fp32|fp16|bf16]" in out and "[wav|flac|ogg|mp3|aiff|aif]" in out
    _, out, _ = run_cli(capsys, "train", "--help")
    assert "voice, decoder, flow, encoder, decoder+flow, all" in out
