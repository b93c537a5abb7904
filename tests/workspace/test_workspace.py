"""Workspace settings (schema, file round trip, validation, precedence), manifest and lock."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rvclora.errors import ConfigError, WorkspaceBusyError
from rvclora.lora.config import LoRAConfig
from rvclora.workspace import Workspace, default
from rvclora.workspace import lock as lock_mod
from rvclora.workspace import manifest as manifest_mod
from rvclora.workspace.manifest import Manifest
from rvclora.workspace.schema import KEYS, defaults, schema_markdown

REPO = Path(__file__).resolve().parents[2]


def _write_config(ws_dir: Path, text: str) -> Path:
    ws_dir.mkdir(parents=True, exist_ok=True)
    (ws_dir / "rvclora.yaml").write_text(text)
    return ws_dir


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- schema and file round trip ------------------------------------------------------------------------


def test_new_workspace_file_spells_out_every_default_with_comments(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "voice")
    assert not (tmp_path / "voice").exists()  # nothing is written until save_settings()
    assert ws.save_settings() and not ws.save_settings()  # written once; nothing left to write
    text = ws.config_path.read_text()
    data = yaml.safe_load(text)
    flat = {f"{k}.{sk}": sv for k, v in data.items() if isinstance(v, dict) for sk, sv in v.items()}
    flat.update({k: v for k, v in data.items() if not isinstance(v, dict)})
    assert flat == defaults()
    # each key's line carries its comment from the schema
    lines = text.splitlines()
    for name, key in KEYS.items():
        leaf = name.rsplit(".", 1)[-1]
        assert any(line.strip().startswith(f"{leaf}:") and key.comment in line for line in lines), name
    assert ws.sample_rate == 40000 and ws.settings.preprocess.window_s == 3.7
    assert ws.settings.assets.hubert is None


def test_edits_survive_a_rewrite_and_comments_come_back(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "v")
    ws.save_settings()
    text = ws.config_path.read_text().replace("window_s: 3.7", "window_s: 3.0")
    text = "\n".join(line.split("#")[0].rstrip() if "window_s" in line else line for line in text.splitlines())
    ws.config_path.write_text(text)
    ws2 = Workspace.open(tmp_path / "v", overrides={"sr": "48k"})
    assert ws2.settings.preprocess.window_s == 3.0 and ws2.sample_rate == 48000
    assert "sr: 48k" not in ws2.config_path.read_text()  # not yet: only once the command succeeded
    ws2.save_settings()
    new_text = ws2.config_path.read_text()
    assert "window_s: 3.0" in new_text and "sr: 48k" in new_text
    window_line = next(line for line in new_text.splitlines() if "window_s:" in line)
    assert KEYS["preprocess.window_s"].comment in window_line  # comment regenerated
    assert Workspace.open(tmp_path / "v").settings.sr == "48k"  # override recorded


def test_lora_section_follows_the_dataclass(tmp_path: Path) -> None:
    expected = {
        f.name: (f.default_factory() if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(LoRAConfig)
        if f.metadata.get("setting", True)  # rank_pattern/alpha_pattern: per-layer shape, not settings
    }
    ws = Workspace.open(tmp_path / "v")
    assert ws.settings.lora.as_dict() == expected
    _write_config(tmp_path / "bad", "lora:\n  targets: nosuchpreset\n")
    with pytest.raises(ConfigError, match="line 2"):
        Workspace.open(tmp_path / "bad")


def test_docs_table_matches_schema() -> None:
    doc = (REPO / "docs" / "workspace.md").read_text()
    assert schema_markdown() in doc, "regenerate the table in docs/workspace.md from schema_markdown()"


# --- validation ----------------------------------------------------------------------------------------


def test_unknown_key_names_line_and_closest_key(tmp_path: Path) -> None:
    _write_config(tmp_path / "v", "sr: 40k\npreprocess:\n  threshold_db: -40\n  widow_s: 3.0\n")
    with pytest.raises(ConfigError) as exc:
        Workspace.open(tmp_path / "v")
    assert "line 4" in str(exc.value) and "widow_s" in str(exc.value) and "window_s" in str(exc.value)


def test_misplaced_key_says_which_section(tmp_path: Path) -> None:
    _write_config(tmp_path / "v", "sr: 40k\npeak_limit: 2.0\n")
    with pytest.raises(ConfigError, match=r"line 2.*peak_limit.*under 'preprocess:'"):
        Workspace.open(tmp_path / "v")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("train:\n  epochs: many\n", r"line 2: 'train.epochs' must be a whole number"),
        ("f0: 1\n", r"line 1: 'f0' must be true or false"),
        ("version: v1\nsr: 44k\n", r"line 2: 'sr' must be one of 32k, 40k, 48k"),
        ("device: gpu\n", r"line 1: 'device' must match"),
        ("preprocess: 3\n", r"line 1: 'preprocess' must be a section"),
        ("train:\n  val_fraction: 0.9\n", r"line 2: 'train.val_fraction' must be at most 0.5"),
    ],
)
def test_wrong_values_name_key_and_line(tmp_path: Path, text: str, needle: str) -> None:
    _write_config(tmp_path / "v", text)
    with pytest.raises(ConfigError, match=needle):
        Workspace.open(tmp_path / "v")


def test_malformed_yaml_gives_line(tmp_path: Path) -> None:
    _write_config(tmp_path / "v", "sr: 40k\ntrain:\n  epochs: [1, 2\n  lr: 3\n")
    with pytest.raises(ConfigError, match=r"rvclora.yaml line \d+: malformed YAML"):
        Workspace.open(tmp_path / "v")


def test_bad_file_is_not_rewritten(tmp_path: Path) -> None:
    path = _write_config(tmp_path / "v", "sr: 44k\n") / "rvclora.yaml"
    with pytest.raises(ConfigError):
        Workspace.open(tmp_path / "v", overrides={"version": "v1"})
    assert path.read_text() == "sr: 44k\n"


def test_bad_override_is_named_by_its_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--sr: 'sr' must be one of"):
        Workspace.open(tmp_path / "v", overrides={"sr": "41k"})
    assert not (tmp_path / "v" / "rvclora.yaml").exists()


def test_missing_asset_names_key_and_line(tmp_path: Path) -> None:
    _write_config(tmp_path / "v", "sr: 40k\nassets:\n  hubert: models/hubert_base.pt\n")
    with pytest.raises(ConfigError, match=r"line 3: 'assets.hubert' file does not exist"):
        Workspace.open(tmp_path / "v")


# --- precedence and paths ------------------------------------------------------------------------------


def test_precedence_user_config_env_file_cli(
    tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch, reference_dir: Path
) -> None:
    a = _touch(clean_env / "rvclora" / "models" / "a.pt")
    b, c = (_touch(tmp_path / name) for name in ("b.pt", "c.pt"))
    d = _touch(tmp_path / "d.pt", (reference_dir / "hubert_tiny_fairseq.pt").read_bytes())  # a flag's file is read
    (clean_env / "rvclora" / "config.yaml").write_text(
        "assets:\n  hubert: models/a.pt\ntrain:\n  batch_size: 8\n"
    )  # relative to the config's folder
    ws = Workspace.open(tmp_path / "v1")
    ws.save_settings()
    assert ws.settings.assets.hubert == a and ws.settings.train.batch_size == 8
    written = yaml.safe_load(ws.config_path.read_text())
    assert written["assets"]["hubert"] is None  # machine-level paths stay live, not copied
    assert written["train"]["batch_size"] == 8  # personal defaults are copied into a new workspace

    monkeypatch.setenv("RVCLORA_HUBERT", str(b))
    monkeypatch.setenv("RVCLORA_DEVICE", "cpu")
    ws = Workspace.open(tmp_path / "v1")
    assert ws.settings.assets.hubert == b and ws.settings.device == "cpu"  # env beats user config / "auto"
    assert ws.origin("assets.hubert") == "$RVCLORA_HUBERT"

    text = ws.config_path.read_text().replace("hubert: null", f"hubert: {c}")
    ws.config_path.write_text(text)
    assert Workspace.open(tmp_path / "v1").settings.assets.hubert == c  # the file beats env

    ws = Workspace.open(tmp_path / "v1", overrides={"assets.hubert": str(d)})
    assert ws.settings.assets.hubert == d and ws.save_settings()  # the command line beats all, and is recorded
    assert yaml.safe_load(ws.config_path.read_text())["assets"]["hubert"] == str(d)


def test_bad_env_var_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RVCLORA_DEVICE", "tpu")
    with pytest.raises(ConfigError, match=r"\$RVCLORA_DEVICE"):
        Workspace.open(tmp_path / "v")


def test_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference_dir: Path) -> None:
    root = tmp_path / "v"
    rmvpe = _touch(root / "models" / "rmvpe.pt")
    _write_config(root, "input: recordings\nassets:\n  rmvpe: models/rmvpe.pt\n")
    ws = Workspace.open(root)
    assert ws.input_dir == root.resolve() / "recordings"
    assert ws.settings.assets.rmvpe == rmvpe.resolve()
    assert ws.f0_method == "rmvpe"  # auto resolves to rmvpe once a file is configured
    # a relative path on the command line is relative to the current folder; stored relative to the
    # workspace when inside it
    monkeypatch.chdir(root / "models")
    hub = _touch(root / "models" / "hubert.pt", (reference_dir / "hubert_tiny_fairseq.pt").read_bytes())
    ws = Workspace.open(root, overrides={"assets.hubert": "hubert.pt"})
    assert ws.settings.assets.hubert == hub.resolve() and ws.save_settings()
    assert yaml.safe_load(ws.config_path.read_text())["assets"]["hubert"] == "models/hubert.pt"
    assert ws.clips_dir() == root.resolve() / "clips" / "40k" and ws.clips_16k_dir.name == "16k"


def test_open_without_create(tmp_path: Path) -> None:
    from rvclora.errors import BadInputError

    with pytest.raises(BadInputError, match="not an rvclora workspace"):
        Workspace.open(tmp_path / "nothing", create=False)


def test_default_helper_reads_schema() -> None:
    assert default("preprocess.threshold_db") == -42.0 and default("train.c_mel") == 45.0


# --- lock ----------------------------------------------------------------------------------------------


def _fake_lock(ws: Workspace, pid: int, command: str) -> None:
    import json
    import socket

    ws.state_dir.mkdir(parents=True, exist_ok=True)
    (ws.state_dir / "lock").write_text(
        json.dumps({"pid": pid, "host": socket.gethostname(), "command": command, "since": "2024-01-01T00:00:00"})
    )


def test_lock_refuses_second_holder_with_info(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "v")
    _fake_lock(ws, os.getppid(), "train")  # our parent process is alive
    with pytest.raises(WorkspaceBusyError) as exc:
        with ws.lock("preprocess"):
            pass
    msg = str(exc.value)
    assert f"pid {os.getppid()}" in msg and "rvclora train" in msg and "2024-01-01" in msg


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "v")
    code = (
        "import sys\nfrom rvclora.workspace import Workspace\nfrom rvclora.errors import WorkspaceBusyError\n"
        f"ws = Workspace.open({str(ws.root)!r})\n"
        "try:\n    ws.lock('extract').__enter__()\nexcept WorkspaceBusyError as e:\n"
        "    print(e); sys.exit(3)\n"
    )
    with ws.lock("preprocess"):
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ}
        )
    assert res.returncode == 3, res.stderr
    assert f"pid {os.getpid()}" in res.stdout and "rvclora preprocess" in res.stdout
    assert not (ws.state_dir / "lock").exists()  # released


def test_stale_lock_is_taken_over(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "v")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _fake_lock(ws, dead.pid, "train")
    with ws.lock("preprocess"):
        holder = lock_mod.read_holder(ws.state_dir / "lock")
        assert holder is not None and holder["pid"] == os.getpid() and holder["command"] == "preprocess"
        with ws.lock("preprocess"):  # re-entrant in one process
            pass
        assert (ws.state_dir / "lock").exists()
    assert not (ws.state_dir / "lock").exists()


# --- manifest ------------------------------------------------------------------------------------------


def test_manifest_freshness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _touch(tmp_path / "raw" / "a.wav", b"abc")
    out = _touch(tmp_path / "clips" / "a_0.wav")
    m = Manifest(tmp_path / ".rvclora" / "manifest.json", tmp_path)
    settings = {"window_s": 3.7}
    assert not m.is_fresh("pre", "a", [src], settings)
    m.record("pre", "a", [src], settings, [out], {"speaker_id": 0})
    m = Manifest(tmp_path / ".rvclora" / "manifest.json", tmp_path)  # reload from disk
    assert m.is_fresh("pre", "a", [src], settings)
    assert m.entry("pre", "a")["outputs"] == ["clips/a_0.wav"] and m.outputs("pre") == [out]
    assert not m.is_fresh("pre", "a", [src], {"window_s": 3.0})  # setting changed
    src.write_bytes(b"abd")  # same size, new content
    assert not m.is_fresh("pre", "a", [src], settings)
    src.write_bytes(b"abc")
    assert m.is_fresh("pre", "a", [src], settings)
    out.unlink()  # output deleted
    assert not m.is_fresh("pre", "a", [src], settings)
    m.forget("pre", "a")
    assert m.entry("pre", "a") is None and m.keys("pre") == []


def test_manifest_large_inputs_use_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest_mod, "SMALL_FILE", 0)
    src = _touch(tmp_path / "a.wav", b"abc")
    m = Manifest(tmp_path / "m.json", tmp_path)
    m.record("pre", "a", [src], {}, [])
    assert m.is_fresh("pre", "a", [src], {})
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert not m.is_fresh("pre", "a", [src], {})


def test_corrupt_manifest_means_redo(tmp_path: Path) -> None:
    from rvclora.errors import RvcloraWarning

    path = _touch(tmp_path / "m.json", b"{not json")
    with pytest.warns(RvcloraWarning, match="set aside"):
        assert Manifest(path, tmp_path).keys("pre") == []


def test_unavailable_device_override_is_refused_and_not_recorded(tmp_path, monkeypatch) -> None:
    import torch

    from rvclora.errors import ConfigError
    from rvclora.workspace import Workspace

    Workspace.open(tmp_path / "ws").save_settings()
    before = (tmp_path / "ws" / "rvclora.yaml").read_text()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        Workspace.open(tmp_path / "ws", overrides={"device": "cuda"})
    assert (tmp_path / "ws" / "rvclora.yaml").read_text() == before
    assert Workspace.open(tmp_path / "ws", overrides={"device": "cpu"}).settings.device == "cpu"


def test_a_missing_required_setting_fails_before_anything_is_written(tmp_path: Path, reference_dir: Path) -> None:
    required = {"assets.base": ("no base model configured", "give --base")}
    typo = tmp_path / "vocie"
    with pytest.raises(ConfigError, match="no base model configured"):
        Workspace.open(typo, required=required)
    assert not typo.exists()
    base = (reference_dir / "v2_40k_f0_tiny.G.pth").resolve()
    ws = Workspace.open(tmp_path / "voice", overrides={"assets.base": str(base)}, required=required)
    assert ws.settings.assets.base == base and ws.save_settings()
    assert (tmp_path / "voice" / "rvclora.yaml").is_file()


# --- settings from flags: checked completely, written only on success, clearable ---------------------------


def test_unset_puts_the_default_back_and_lets_lower_layers_decide(
    tmp_path: Path, clean_env: Path, reference_dir: Path
) -> None:
    hubert = (reference_dir / "hubert_tiny_fairseq.pt").resolve()
    Workspace.open(tmp_path / "v", overrides={"train.max_steps": 50, "assets.hubert": str(hubert)}).save_settings()
    user_hubert = _touch(clean_env / "rvclora" / "hubert.pt")
    (clean_env / "rvclora" / "config.yaml").write_text("assets:\n  hubert: hubert.pt\n")
    ws = Workspace.open(tmp_path / "v")
    assert ws.settings.train.max_steps == 50 and ws.settings.assets.hubert == hubert  # the file beats the user's
    ws = Workspace.open(tmp_path / "v", unset=["train.max_steps", "assets.hubert"])
    assert ws.settings.train.max_steps is None and ws.settings.assets.hubert == user_hubert
    assert ws.save_settings()
    stored = yaml.safe_load(ws.config_path.read_text())
    assert stored["train"]["max_steps"] is None and stored["assets"]["hubert"] is None
    with pytest.raises(ConfigError, match="unknown setting 'train.max_step'.*did you mean 'train.max_steps'"):
        Workspace.open(tmp_path / "v", unset=["train.max_step"])


@pytest.mark.parametrize(
    ("key", "give", "needle"),
    [
        (
            "assets.hubert",
            "song.wav",
            r"--hubert: song.wav is not a HuBERT/ContentVec content encoder \(.*not a PyTorch",
        ),
        ("assets.hubert", "G", r"--hubert: G.pth is not a HuBERT/ContentVec content encoder \(it is: RVC generator"),
        ("assets.base", "hubert", r"--base: hubert.pt is not an RVC generator \(it is: HuBERT"),
        ("assets.base_d", "G", r"--base-d: G.pth is not an RVC discriminator \(it is: RVC generator"),
        ("assets.rmvpe", "hubert", r"--rmvpe: hubert.pt is not an RMVPE pitch model \(it is: HuBERT"),
    ],
)
def test_a_model_file_from_a_flag_must_be_the_right_kind(
    tmp_path: Path, reference_dir: Path, key: str, give: str, needle: str
) -> None:
    files = {
        "song.wav": _touch(tmp_path / "song.wav", b"RIFF\x24\x00\x00\x00WAVEfmt "),
        "G": _touch(tmp_path / "G.pth", (reference_dir / "v2_40k_f0_tiny.G.pth").read_bytes()),
        "hubert": _touch(tmp_path / "hubert.pt", (reference_dir / "hubert_tiny_fairseq.pt").read_bytes()),
    }
    Workspace.open(tmp_path / "v").save_settings()
    before = (tmp_path / "v" / "rvclora.yaml").read_text()
    with pytest.raises(ConfigError, match=needle):
        Workspace.open(tmp_path / "v", overrides={key: str(files[give])})
    assert (tmp_path / "v" / "rvclora.yaml").read_text() == before


def test_the_right_kinds_are_accepted(tmp_path: Path, reference_dir: Path) -> None:
    ws = Workspace.open(
        tmp_path / "v",
        overrides={
            "assets.base": str(reference_dir / "v2_40k_f0_tiny.G.pth"),
            "assets.hubert": str(reference_dir / "hubert_tiny_fairseq.pt"),
            "assets.rmvpe": str(reference_dir / "rmvpe_tiny.pt"),
            "f0_method": "rmvpe",
        },
    )
    assert ws.f0_method == "rmvpe" and ws.save_settings()


def test_the_rmvpe_method_needs_an_rmvpe_file_and_a_stored_one_can_be_cleared(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--f0-method: f0_method rmvpe needs the RMVPE model.*--rmvpe"):
        Workspace.open(tmp_path / "v", overrides={"f0_method": "rmvpe"})
    assert not (tmp_path / "v").exists()
    _write_config(tmp_path / "w", "f0_method: rmvpe\n")  # stored by hand (or by an older rvclora)
    ws = Workspace.open(tmp_path / "w", unset=["f0_method"])
    assert ws.f0_method == "harvest" and ws.save_settings()
    assert yaml.safe_load(ws.config_path.read_text())["f0_method"] == "auto"


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("train.lr", "1e-4", 1e-4),
        ("train.epochs", "200", 200),
        ("train.cache", "true", True),
        ("train.max_steps", "null", None),
        ("train.betas", "[0.9, 0.95]", [0.9, 0.95]),
        ("input", "2024", "2024"),
        ("lora.targets", "[dec.ups, flow]", ["dec.ups", "flow"]),
        ("sr", "48k", "48k"),
    ],
)
def test_values_typed_as_text_read_as_in_the_file(key: str, text: str, value: object) -> None:
    from rvclora.workspace.settings import check_value, parse_text

    assert check_value(key, parse_text(key, text), "--set") == value


def test_a_command_failing_under_the_lock_leaves_no_new_folder(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "new")
    with pytest.raises(RuntimeError):
        with ws.lock("preprocess"):
            raise RuntimeError("the command failed")
    assert not (tmp_path / "new").exists()
    with ws.lock("preprocess"):
        (tmp_path / "new" / "clips").mkdir()
    with pytest.raises(RuntimeError):
        with ws.lock("preprocess"):
            raise RuntimeError("the command failed")
    assert (tmp_path / "new" / "clips").is_dir()  # a folder with work in it is kept


def test_a_model_file_is_identified_once_when_first_stored(
    tmp_path: Path, reference_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rvclora.inspect.stage as inspection

    calls: list[str] = []
    real = inspection.describe
    monkeypatch.setattr(inspection, "describe", lambda p: (calls.append(Path(p).name), real(p))[1])
    hubert = {"assets.hubert": str(reference_dir / "hubert_tiny_fairseq.pt")}
    Workspace.open(tmp_path / "v", overrides=hubert).save_settings()
    Workspace.open(tmp_path / "v", overrides=hubert)  # the same flag again: already checked when stored
    assert calls == ["hubert_tiny_fairseq.pt"]
