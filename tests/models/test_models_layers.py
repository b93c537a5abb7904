"""Building blocks: weight norm, configs, non-standard synthesizers, streaming crop, discriminator, mel."""

from __future__ import annotations

import pytest
import torch

from rvclora.errors import ConfigError
from rvclora.models import mel
from rvclora.models.config import (
    POSITIONAL_FIELDS,
    STANDARD_CONFIGS,
    SynthConfig,
    front_end,
    parse_sr,
    sr_label,
    standard_config,
)
from rvclora.models.discriminator import MultiPeriodDiscriminator
from rvclora.models.synthesizer import (
    SynthesizerTrnMs256NSFsid_nono,
    SynthesizerTrnMs768NSFsid,
    build_synthesizer,
)
from rvclora.models.weightnorm import WeightNormed, WNConv1d, WNConv2d, WNConvTranspose1d, fold_weight_norm


def _tiny(
    version: str = "v2",
    f0: bool = True,
    rates: list[int] | None = None,
    kernels: list[int] | None = None,
    sr: int = 16000,
) -> SynthConfig:
    rates = rates or [4, 4]
    return SynthConfig(
        spec_channels=33,
        segment_size=8,
        inter_channels=8,
        hidden_channels=8,
        filter_channels=16,
        n_heads=2,
        n_layers=1,
        kernel_size=3,
        p_dropout=0,
        resblock="1",
        resblock_kernel_sizes=[3, 5],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]],
        upsample_rates=rates,
        upsample_initial_channel=16,
        upsample_kernel_sizes=kernels or [2 * r for r in rates],
        spk_embed_dim=2,
        gin_channels=4,
        sr=sr,
        version=version,
        f0=f0,
    )


@pytest.mark.parametrize(
    "layer",
    [
        lambda: WNConv1d(3, 5, 3, padding=1),
        lambda: WNConvTranspose1d(5, 3, 4, 2, padding=1),
        lambda: WNConv2d(2, 4, (3, 1), padding=(1, 0)),
    ],
    ids=["conv1d", "convtranspose1d", "conv2d"],
)
def test_weight_norm_parameters_and_formula(layer) -> None:
    torch.manual_seed(0)
    m = layer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["bias", "weight_g", "weight_v"]
    assert m.weight_g.shape == (m.weight_v.shape[0],) + (1,) * (m.weight_v.dim() - 1)
    with torch.no_grad():
        m.weight_g.mul_(torch.rand_like(m.weight_g) + 0.5)
        m.weight_v.add_(0.1)
    v = m.weight_v.detach()
    norm = v.flatten(1).norm(dim=1).view_as(m.weight_g)
    expected = m.weight_g.detach() * v / norm
    assert torch.allclose(m.weight, expected, atol=1e-6)
    x = torch.randn(
        2,
        m.weight_v.shape[1] if not isinstance(m, WNConvTranspose1d) else 5,
        7,
        *((2,) if isinstance(m, WNConv2d) else ()),
    )
    plain_out = type(m).__mro__[2].forward(m, x)  # the torch layer's forward, fed by the effective weight
    assert torch.equal(m(x), plain_out)
    # gradients reach g and v
    m(x).square().sum().backward()
    assert m.weight_g.grad is not None and m.weight_v.grad is not None


def test_set_weight_and_fold() -> None:
    torch.manual_seed(1)
    m = torch.nn.Sequential(
        WNConv1d(3, 4, 3, padding=1), torch.nn.ReLU(), WNConvTranspose1d(4, 2, 4, 2, padding=1, bias=False)
    )
    target = torch.randn(4, 3, 3)
    m[0].set_weight(target)
    assert torch.allclose(m[0].weight, target, atol=1e-6)
    x = torch.randn(1, 3, 9)
    before = m(x)
    fold_weight_norm(m)
    assert not any(isinstance(layer, WeightNormed) for layer in m.modules())
    assert [k for k in m.state_dict()] == ["0.weight", "0.bias", "2.weight"]
    assert type(m[2]) is torch.nn.ConvTranspose1d and m[2].bias is None
    assert torch.allclose(m(x), before, atol=1e-6)


def test_config_list_round_trip_and_standard_table() -> None:
    cfg = standard_config("v2", "40k", f0=False)
    lst = cfg.to_list()
    assert len(lst) == len(POSITIONAL_FIELDS) == 18
    assert SynthConfig.from_list(lst, "v2", 0) == cfg
    assert lst[-1] == 40000 and lst[9] == "1" and isinstance(lst[8], int)
    assert cfg.to_list(segment_size=32)[1] == 32 and cfg.segment_size == 12800 // 400
    # v2-40k uses v1's 40k file; each rate's hop equals the product of its upsample rates
    assert STANDARD_CONFIGS[("v2", 40000)].upsample_rates == STANDARD_CONFIGS[("v1", 40000)].upsample_rates
    for (version, sr), c in STANDARD_CONFIGS.items():
        fe = front_end(sr, version)
        assert c.hop_length == fe.hop_length == sr // 100
        assert c.spec_channels == fe.filter_length // 2 + 1
    assert front_end(48000, "v2").segment_frames == 36 and front_end(48000, "v1").segment_frames == 24
    # copies are independent of the table
    cfg.upsample_rates.append(3)
    assert STANDARD_CONFIGS[("v2", 40000)].upsample_rates == [10, 10, 2, 2]


def test_sample_rate_strings() -> None:
    assert parse_sr("40k") == parse_sr(40000) == parse_sr("40000") == 40000
    assert sr_label(48000) == "48k" and sr_label(44100) == "44.1k"
    with pytest.raises(ConfigError):
        parse_sr("fast")
    with pytest.raises(ConfigError):
        standard_config("v3", "40k")
    with pytest.raises(ConfigError):
        standard_config("v2", "44.1k")
    with pytest.raises(ConfigError):
        SynthConfig.from_list([1, 2, 3])
    with pytest.raises(ConfigError):
        standard_config("v2", 40000).replace(n_flows=3)


def test_upstream_positional_constructor() -> None:
    cfg = _tiny("v2", True)
    model = SynthesizerTrnMs768NSFsid(*cfg.to_list(), is_half=True)
    assert model.config == cfg
    nono = SynthesizerTrnMs256NSFsid_nono(*_tiny("v1", False).to_list()[:-1], is_half=False)  # sr may be left out
    assert nono.config.version == "v1" and not nono.config.f0
    assert "enc_p.emb_pitch.weight" not in nono.state_dict()
    with pytest.raises(TypeError):
        SynthesizerTrnMs768NSFsid(*cfg.to_list(), bogus=1)


@pytest.mark.parametrize("f0", [True, False])
@pytest.mark.parametrize("rates, kernels", [([4, 4], [8, 8]), ([2, 3, 2], [4, 5, 4])])
def test_non_standard_configs_run(f0: bool, rates: list[int], kernels: list[int]) -> None:
    torch.manual_seed(0)
    cfg = _tiny("v1", f0, rates, kernels)
    model = build_synthesizer(cfg).eval()
    t = 12
    phone, lengths, sid = torch.randn(1, t, 256), torch.tensor([t]), torch.tensor([1])
    pitch = torch.randint(1, 255, (1, t)) if f0 else None
    pitchf = torch.full((1, t), 150.0) if f0 else None
    with torch.no_grad():
        audio, x_mask, _ = model.run_infer(phone, lengths, sid, pitch=pitch, nsff0=pitchf)
        assert audio.shape == (1, 1, t * cfg.hop_length)
        spec = torch.rand(1, 33, t)
        out = model.run_train(phone, lengths, spec, lengths, sid, pitch=pitch, pitchf=pitchf)
    assert out[0].shape == (1, 1, cfg.segment_size * cfg.hop_length)
    assert 0 <= int(out[1][0]) <= t - cfg.segment_size


def test_pitch_model_requires_pitch() -> None:
    model = build_synthesizer(_tiny("v1", True)).eval()
    with pytest.raises(ValueError, match="pitch"):
        model.run_infer(torch.randn(1, 5, 256), torch.tensor([5]), torch.tensor([0]))


def test_streaming_crop_and_resample() -> None:
    """skip_head/return_length crop the decoder input; return_length2 resamples it (upstream semantics)."""
    torch.manual_seed(0)
    model = build_synthesizer(_tiny("v2", True)).eval()
    t = 40
    args = (
        torch.randn(1, t, 768),
        torch.tensor([t]),
        torch.randint(1, 255, (1, t)),
        torch.linspace(100, 300, t).unsqueeze(0),
        torch.tensor([0]),
    )
    with torch.no_grad():
        full, _, (z_full, *_rest) = model.infer(*args)
        audio, x_mask, (z, z_p, m_p, _) = model.infer(*args, skip_head=torch.tensor(30), return_length=torch.tensor(6))
        stretched, _, _ = model.infer(
            *args, skip_head=torch.tensor(30), return_length=torch.tensor(6), return_length2=torch.tensor(9)
        )
    hop = model.config.hop_length
    assert audio.shape == (1, 1, 6 * hop) and x_mask.shape == (1, 1, 6)
    assert m_p.shape[2] == t - (30 - 24)  # the flow sees 24 frames of context before skip_head
    assert z.shape[2] == 6
    assert stretched.shape == (1, 1, 9 * hop)


@pytest.mark.slow
def test_discriminator_forward() -> None:
    torch.manual_seed(0)
    mpd = MultiPeriodDiscriminator("v1")
    y, y_hat = torch.randn(1, 1, 700), torch.randn(1, 1, 700)
    real, fake, fmap_r, fmap_g = mpd(y, y_hat)
    assert len(real) == len(fake) == len(fmap_r) == 7
    assert all(len(f) == 7 for f in fmap_r[:1]) and all(len(f) == 6 for f in fmap_r[1:])
    assert real[1].shape[0] == 1 and not torch.equal(real[1], fake[1])
    with pytest.raises(ValueError):
        MultiPeriodDiscriminator("v3")


def test_mel_clip_and_cache() -> None:
    silent = torch.zeros(1, 2000)
    spec = mel.spectrogram(silent, 512, 160, 512)
    assert torch.allclose(spec, torch.full_like(spec, mel.MAG_EPS**0.5))
    log_mel = mel.spec_to_mel(torch.zeros_like(spec), 512, 40, 16000)
    assert torch.allclose(log_mel, torch.full_like(log_mel, torch.log(torch.tensor(mel.MEL_CLIP))))
    assert mel.mel_filterbank(16000, 512, 40) is mel.mel_filterbank(16000, 512, 40)
    assert mel.spectrogram(silent[0], 512, 160, 512).shape == spec.shape[1:]
