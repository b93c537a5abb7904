"""RMVPE: reproduce upstream's outputs on the tiny reference model; key layout of the full size; bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from rvclora.errors import BadInputError, UnsafeFileError
from rvclora.features.rmvpe import CENTS_OFFSET, Rmvpe, salience_to_f0
from rvclora.features.rmvpe_net import RmvpeArch, RmvpeNet


@pytest.fixture(scope="module")
def ref(reference_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(reference_dir / "rmvpe_tiny.npz"))


@pytest.fixture(scope="module")
def tiny(reference_dir: Path) -> Rmvpe:
    return Rmvpe.load(reference_dir / "rmvpe_tiny.pt")


def test_arch_is_inferred_from_the_fixture(reference_dir: Path) -> None:
    state = torch.load(reference_dir / "rmvpe_tiny.pt", weights_only=True)
    assert RmvpeArch.from_state_dict(state) == RmvpeArch(n_blocks=1, n_gru=1, en_out_channels=4)


def test_mel_matches_upstream(tiny: Rmvpe, ref: dict[str, np.ndarray]) -> None:
    mel = tiny.mel(ref["audio"]).numpy()
    assert mel.shape == ref["mel"].shape == (1, 128, len(ref["audio"]) // 160 + 1)
    np.testing.assert_allclose(mel, ref["mel"], atol=1e-4, rtol=0)


def test_salience_matches_upstream(tiny: Rmvpe, ref: dict[str, np.ndarray]) -> None:
    from_ref_mel = tiny.salience(torch.from_numpy(ref["mel"]))[0].numpy()
    from_audio = tiny.salience(tiny.mel(ref["audio"]))[0].numpy()
    np.testing.assert_allclose(from_ref_mel, ref["salience"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(from_audio, ref["salience"], atol=1e-4, rtol=0)


def test_f0_matches_upstream(tiny: Rmvpe, ref: dict[str, np.ndarray]) -> None:
    thred = float(ref["thred"])
    expected = ref["f0"]
    assert 0 < (expected > 0).sum() < len(expected)  # the fixture exercises both voicing branches
    for f0 in (salience_to_f0(ref["salience"], thred), tiny.f0(ref["audio"], thred)):
        np.testing.assert_array_equal(f0 > 0, expected > 0)
        np.testing.assert_allclose(f0, expected, atol=0.01, rtol=0)


def _hz(cents: float) -> float:
    return 10.0 * 2.0 ** (cents / 1200.0)


def test_decoding_by_hand() -> None:
    sal = np.zeros((5, 360), dtype=np.float32)
    sal[0, 100] = 0.5  # a lone peak: exactly its bin
    sal[1, 200] = sal[1, 201] = 0.4  # two equal bins: halfway
    sal[2, 0] = 0.9  # edge bin: the padding adds nothing
    sal[2, 1] = 0.3
    sal[3, 50] = 0.03  # peak equal to the threshold: unvoiced
    sal[4, 300] = 0.8  # bins 5 away from the peak are outside the 9-bin window
    sal[4, 305] = 0.8 - 1e-3
    f0 = salience_to_f0(sal, 0.03)
    assert f0[0] == pytest.approx(_hz(20 * 100 + CENTS_OFFSET), abs=1e-9)
    assert f0[1] == pytest.approx(_hz(20 * 200.5 + CENTS_OFFSET), abs=1e-9)
    assert f0[2] == pytest.approx(_hz((0.9 * 0 + 0.3 * 20) / 1.2 + CENTS_OFFSET), rel=1e-6)
    assert f0[3] == 0.0
    assert f0[4] == pytest.approx(_hz(20 * 300 + CENTS_OFFSET), abs=1e-9)
    assert 31.6 < _hz(CENTS_OFFSET) < 31.8  # sanity of the bin grid: lowest bin ≈ 31.7 Hz


def test_full_size_keys_and_shapes_match_upstream(reference_dir: Path) -> None:
    keys = reference_dir.parents[1] / "spec/keys/rmvpe_E2E.tsv"  # shared/fixtures/reference -> shared/spec
    rows = [line.rstrip("\n").split("\t") for line in keys.read_text().splitlines() if not line.startswith("#")]
    expected = {name: shape for name, shape, _dtype in rows}
    with torch.device("meta"):
        net = RmvpeNet(RmvpeArch())
    mine = {k: str(list(v.shape)) for k, v in net.state_dict().items()}
    assert mine == expected
    assert sum(p.numel() for p in net.parameters()) == 90_423_165  # rvc-interop.md §9
    assert RmvpeArch.from_state_dict(net.state_dict()) == RmvpeArch()


def test_batched_equals_one_by_one(tiny: Rmvpe) -> None:
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (4000, 4050, 7000)]  # 26/26/44 frames
    batched = tiny.f0_many(clips, threshold=0.8, batch_size=8)
    for clip, f0 in zip(clips, batched, strict=True):
        np.testing.assert_allclose(f0, tiny.f0(clip, 0.8), atol=1e-3)


@pytest.mark.slow
def test_reduced_precision_and_channels_last_run(reference_dir: Path, ref: dict[str, np.ndarray]) -> None:
    fast = Rmvpe.load(reference_dir / "rmvpe_tiny.pt", dtype="bfloat16", channels_last=True)
    sal = fast.salience(torch.from_numpy(ref["mel"]))[0].numpy()
    assert sal.dtype == np.float32
    np.testing.assert_allclose(sal, ref["salience"], atol=0.05)
    cl = Rmvpe.load(reference_dir / "rmvpe_tiny.pt", channels_last=True)
    np.testing.assert_allclose(cl.salience(torch.from_numpy(ref["mel"]))[0].numpy(), ref["salience"], atol=1e-4)


def test_very_short_audio(tiny: Rmvpe) -> None:
    for n in (1, 300, 512, 513):
        assert tiny.f0(np.zeros(n, dtype=np.float32)).shape == (n // 160 + 1,)


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def test_wrong_shapes_are_refused(reference_dir: Path, tmp_path: Path) -> None:
    state = torch.load(reference_dir / "rmvpe_tiny.pt", weights_only=True)
    state["unet.decoder.layers.2.conv2.0.conv.3.weight"] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(BadInputError, match="not an RMVPE checkpoint.*inconsistent shapes.*decoder.layers.2"):
        Rmvpe.load(_save(state, tmp_path / "bad.pt"))


def test_missing_and_extra_keys_are_refused(reference_dir: Path, tmp_path: Path) -> None:
    state = torch.load(reference_dir / "rmvpe_tiny.pt", weights_only=True)
    del state["cnn.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(BadInputError, match="not an RMVPE checkpoint.*missing cnn.bias.*unexpected extra.weight"):
        Rmvpe.load(_save(state, tmp_path / "bad.pt"))
    with pytest.raises(BadInputError, match="not an RMVPE checkpoint.*has no key"):
        Rmvpe.load(_save({"fc.1.weight": torch.zeros(360, 512)}, tmp_path / "other.pt"))


def test_rvc_voice_model_is_refused(reference_dir: Path) -> None:
    with pytest.raises(BadInputError, match="not an RMVPE checkpoint.*RVC voice model"):
        Rmvpe.load(reference_dir / "v2_40k_f0_tiny.pth")


class Payload:
    """An arbitrary class: loading it would need unpickling code."""


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_arbitrary_pickle_and_garbage_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeFileError):
        Rmvpe.load(_save({"x": Payload()}, tmp_path / "pickle.pt"))
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(BadInputError):
        Rmvpe.load(raw)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(BadInputError):
        Rmvpe.load(junk)
    with pytest.raises(BadInputError, match="not an RMVPE checkpoint.*list"):
        Rmvpe.load(_save([torch.zeros(2)], tmp_path / "list.pt"))
