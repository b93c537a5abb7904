"""A miniature RVC for LoRA tests: RVC's module names and layer kinds in every weight-norm form, and its inputs.

Small enough that add_lora / merge_lora / adapter files are checked on every layer in milliseconds.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from rvclora.lora.inject import lora_layers

H = 6  # hidden width of the tiny model


def legacy_wn(layer: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(layer)


def param_wn(layer: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.weight_norm(layer)


class GVConv1d(nn.Conv1d):
    """Mimics rvclora.models' weight-normed conv: Parameters weight_g/weight_v, no ``weight`` Parameter."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        w = self._parameters.pop("weight").detach()
        self.weight_g = nn.Parameter(torch.norm_except_dim(w, 2, 0).clone())
        self.weight_v = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, torch._weight_norm(self.weight_v, self.weight_g, 0), self.bias)


class WN(nn.Module):
    def __init__(self, layers: int) -> None:
        super().__init__()
        self.in_layers = nn.ModuleList(legacy_wn(nn.Conv1d(H, 2 * H, 5, padding=2)) for _ in range(layers))
        self.res_skip_layers = nn.ModuleList(param_wn(nn.Conv1d(H, 2 * H, 1)) for _ in range(layers))
        self.cond_layer = GVConv1d(4, 2 * H * layers, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        cond = self.cond_layer(g)
        out = torch.zeros_like(x)
        for i, (conv, res) in enumerate(zip(self.in_layers, self.res_skip_layers, strict=True)):
            a = conv(x) + cond[:, i * 2 * H : (i + 1) * 2 * H]
            r = res(torch.tanh(a[:, :H]) * torch.sigmoid(a[:, H:]))
            x, out = x + r[:, :H], out + r[:, H:]
        return out


class Coupling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pre = nn.Conv1d(2, H, 1)
        self.enc = WN(2)
        self.post = nn.Conv1d(H, 2, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x0, x1 = x[:, :2], x[:, 2:]
        return torch.cat([x0, x1 + self.post(self.enc(self.pre(x0), g))], 1).flip(1)


class ResBlock(nn.Module):
    def __init__(self, ch: int, k: int) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(GVConv1d(ch, ch, k, dilation=d, padding=(k * d - d) // 2) for d in (1, 3))
        self.convs2 = nn.ModuleList(legacy_wn(nn.Conv1d(ch, ch, k, padding=(k - 1) // 2)) for _ in (1, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        return x


class Dec(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv_pre = nn.Conv1d(4, 8, 7, padding=3)
        self.cond = nn.Conv1d(4, 8, 1)
        self.ups = nn.ModuleList([GVConv1dT(8, 4, 4, 2, 1)])
        self.resblocks = nn.ModuleList(ResBlock(4, k) for k in (3, 5, 7))
        self.conv_post = nn.Conv1d(4, 1, 7, padding=3, bias=False)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x = self.ups[0](F.leaky_relu(self.conv_pre(x) + self.cond(g), 0.1))
        x = sum(rb(x) for rb in self.resblocks) / 3
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


class GVConv1dT(nn.ConvTranspose1d):
    def __init__(self, *args: int) -> None:
        super().__init__(*args)
        w = self._parameters.pop("weight").detach()
        self.weight_g = nn.Parameter(torch.norm_except_dim(w, 2, 0).clone())
        self.weight_v = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        w = torch._weight_norm(self.weight_v, self.weight_g, 0)
        return F.conv_transpose1d(x, w, self.bias, self.stride, self.padding, self.output_padding)


class TinyRVC(nn.Module):
    """RVC's module tree in miniature: enc_p, enc_q, flow (2 couplings + flips), dec, emb_g."""

    def __init__(self) -> None:
        super().__init__()
        self.enc_p = nn.Module()
        self.enc_p.emb_phone = nn.Linear(8, H)
        self.enc_p.emb_pitch = nn.Embedding(16, H)
        self.enc_p.proj = nn.Conv1d(H, 4, 1)
        self.enc_q = nn.Module()
        self.enc_q.pre = nn.Conv1d(5, H, 1)
        self.flow = nn.Module()
        self.flow.flows = nn.ModuleList([Coupling(), nn.Identity(), Coupling(), nn.Identity()])
        self.dec = Dec()
        self.emb_g = nn.Embedding(3, 4)
        self.config = SimpleNamespace(version="v2", sr=40000, f0=1)

    def forward(self, phone: torch.Tensor, pitch: torch.Tensor, sid: torch.Tensor) -> torch.Tensor:
        g = self.emb_g(sid).unsqueeze(-1)
        x = (self.enc_p.emb_phone(phone) + self.enc_p.emb_pitch(pitch)).transpose(1, 2)
        z = self.enc_p.proj(x)
        for flow in self.flow.flows[::2]:
            z = flow(z, g)
        return self.dec(z, g)


def tiny_model(seed: int = 0) -> TinyRVC:
    torch.manual_seed(seed)
    return TinyRVC()


def tiny_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(2, 9, 8, generator=gen), torch.randint(0, 16, (2, 9), generator=gen), torch.tensor([0, 2])


def randomize_adapter(model: nn.Module, seed: int = 3) -> None:
    """Both factors non-zero (and the full module moved), so nothing can pass by accident."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in lora_layers(model):
            layer.lora_A.copy_(torch.randn(layer.lora_A.shape, generator=gen) * 0.3)
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=gen) * 0.3)
        model.emb_g.weight.add_(torch.randn(model.emb_g.weight.shape, generator=gen))
