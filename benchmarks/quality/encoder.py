"""A small content encoder trained here to predict frame phone labels, saved in ``hubert_base.pt``'s layout.

It is trained as a one-layer HuBERT (rvclora's own HubertNet, fairseq names) with a linear phone classifier
on top, and written as the twelve-layer file RVC v2 reads (layer 12, 768 wide): layers 1-11 are identities
(zero attention output and FFN output projections, unit layer norms) and layer 12 is the trained layer. An
identity layer still applies its two layer norms, which matter where the epsilon does (quiet frames), so
training applies those 22 plain norms too; the saved file is checked against the trained network.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rvclora.demo.assets import tiny_hubert_state
from rvclora.fileio import atomic_torch_save

LAYERS = 12  # RVC v2 reads layer 12
HOP = 320  # HuBERT frames: 20 ms at 16 kHz
CROP = 16000  # training windows of one second


def _checkpoint(cfg_model: dict, sd: dict[str, torch.Tensor]) -> dict:
    return {
        "args": None,
        "cfg": {"model": cfg_model, "task": {"_name": "hubert_pretraining", "normalize": False, "sample_rate": 16000}},
        "model": sd,
        "criterion": None,
        "optimizer_history": [],
        "task_state": {},
        "extra_state": {},
    }


def _one_layer_net(ffn: int, conv_dim: int, seed: int):
    from rvclora.features.hubert_load import _from_fairseq
    from rvclora.features.hubert_model import HubertNet

    cfg_model, sd = tiny_hubert_state("v2", layers=1, ffn=ffn, conv_dim=conv_dim, pos_kernel=16, seed=seed)
    arch, state, _ = _from_fairseq(Path("encoder"), _checkpoint(cfg_model, sd))
    net = HubertNet(arch)
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return net, cfg_model


def train_encoder(
    wavs: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    n_phones: int,
    dest: Path,
    steps: int,
    seed: int = 0,
    ffn: int = 256,
    conv_dim: int = 32,
    batch: int = 8,
    log: object | None = None,
) -> dict[str, float]:
    """Train on (16 kHz waveform, 100 Hz labels) pairs; write the fairseq-layout file; return accuracy figures."""
    torch.manual_seed(seed)
    net, cfg_model = _one_layer_net(ffn, conv_dim, seed)
    head = nn.Linear(net.arch.embed_dim, n_phones)
    ln = net.encoder.layer_norm
    ln.requires_grad_(False)  # unit scale: the identity layers' norms then see what they would in the file
    net.encoder.layer_norm = _ThenIdentities(ln, 2 * (LAYERS - 1))
    params = [p for p in net.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.01)
    rng = np.random.default_rng(seed)
    n_val = max(1, len(wavs) // 10)
    order = rng.permutation(len(wavs))
    val, train = order[:n_val], order[n_val:]
    net.train()
    for step in range(steps):
        idx = rng.choice(train, size=min(batch, len(train)), replace=False)
        crops = [_crop(wavs[i], labels[i], rng) for i in idx]
        loss, _ = _batch_loss(net, head, [c[0] for c in crops], [c[1] for c in crops])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log is not None and (step + 1) % 10 == 0:
            log.add_scalar("encoder/loss", float(loss.detach()), step + 1)  # type: ignore[attr-defined]
    net.eval()
    with torch.no_grad():
        _, acc = _batch_loss(net, head, [wavs[i] for i in val], [labels[i] for i in val])
    _check_saved(net, _save_twelve_layers(net, ln, cfg_model, dest), wavs[int(val[0])])
    return {"phone_accuracy_val": acc, "steps": steps}


def _crop(wav: np.ndarray, lab: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random window of ``CROP`` samples on the 20 ms grid, with its labels."""
    if len(wav) <= CROP:
        return wav, lab
    start = int(rng.integers(0, (len(wav) - CROP) // HOP + 1)) * HOP
    return wav[start : start + CROP], lab[start // 160 : (start + CROP) // 160 + 1]


def _batch_loss(net, head: nn.Module, wavs: Sequence[np.ndarray], labels: Sequence[np.ndarray]):
    n = max(len(w) for w in wavs)
    x = torch.zeros(len(wavs), n)
    for i, w in enumerate(wavs):
        x[i, : len(w)] = torch.from_numpy(w)
    lengths = torch.tensor([len(w) for w in wavs])
    feats, frames = net(x, 1, lengths)
    target = torch.full(feats.shape[:2], -100, dtype=torch.long)
    for i, lab in enumerate(labels):
        k = min(int(frames[i]), (len(lab) - 1) // 2)
        target[i, :k] = torch.from_numpy(lab[1 : 2 * k : 2].astype(np.int64))
    logits = head(feats)
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)
    valid = target != -100
    acc = float((logits.argmax(-1)[valid] == target[valid]).float().mean()) if valid.any() else 0.0
    return loss, acc


class _ThenIdentities(nn.Module):
    """The encoder's input norm followed by the plain norms of the identity layers (training only)."""

    def __init__(self, ln: nn.LayerNorm, count: int) -> None:
        super().__init__()
        self.ln, self.count = ln, count

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln(x)
        for _ in range(self.count):
            x = nn.functional.layer_norm(x, x.shape[-1:], eps=self.ln.eps)
        return x


def _save_twelve_layers(net, ln: nn.LayerNorm, cfg_model: dict, dest: Path) -> Path:
    sd = {k: v.detach().clone() for k, v in net.state_dict().items() if not k.startswith("encoder.layer_norm.")}
    sd["encoder.layer_norm.weight"], sd["encoder.layer_norm.bias"] = ln.weight.detach(), ln.bias.detach()
    trained = {k[len("encoder.layers.0.") :]: v for k, v in sd.items() if k.startswith("encoder.layers.0.")}
    out = {k: v for k, v in sd.items() if not k.startswith("encoder.layers.")}
    for n in range(LAYERS - 1):
        for name, v in trained.items():
            identity = torch.zeros_like(v) if name.startswith(("self_attn.out_proj", "fc2")) else v
            if "layer_norm" in name:
                identity = torch.ones_like(v) if name.endswith("weight") else torch.zeros_like(v)
            out[f"encoder.layers.{n}.{name}"] = identity.clone()
    for name, v in trained.items():
        out[f"encoder.layers.{LAYERS - 1}.{name}"] = v
    cfg = copy.deepcopy(cfg_model)
    cfg["encoder_layers"] = LAYERS
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(_checkpoint(cfg, out), dest)
    return dest


def _check_saved(net, dest: Path, wav: np.ndarray) -> None:
    """The saved twelve-layer file must give what the trained one-layer net gives (through rvclora's loader)."""
    from rvclora.features.hubert import load_content_encoder

    with torch.no_grad():
        want = net(torch.from_numpy(wav)[None], 1)[0][0].numpy()
    got = load_content_encoder(dest).extract(wav, "v2")
    got = np.asarray(got)
    n = min(len(want), len(got))
    err = float(np.abs(want[:n] - got[:n]).max())
    err = err / max(float(np.abs(want).max()), 1e-9)
    if err > 1e-3:
        raise RuntimeError(f"saved content encoder differs from the trained one by {err:.3g} (relative)")
