"""ΔW in a LoRA layer's own factorisation, and its truncated SVD.

Every LoRA layer computes ΔW = fold(L·R) for one matrix product L [m, r] · R [r, n]; which axes of the weight
become m and n depends on the layer kind (and, for transposed convs, on the factor order): a Conv1d keeps its
kernel on the input side (A is a full conv, B pointwise), a pointwise-first transposed conv keeps it on the
output side. Truncating the SVD of *that* matrix is the best rank-r adapter the layer can hold (Eckart–Young);
an SVD of any other reshaping would give factors the layer cannot express. Splitting √σ into each side keeps
A and B of equal magnitude, so fp16 storage loses the same relative precision on both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from rvclora.lora.layers import POINTWISE_FIRST, TRANSPOSED_FIRST

RELATIVE_ZERO = 1e-7  # singular values below this fraction of the largest count as zero
LINEAR, EMBEDDING, CONV1D, CONV_T = "linear", "embedding", "conv1d", "conv_transpose1d"


@dataclass(frozen=True)
class Layout:
    """How one layer's weight (``shape``, base layout) maps to L·R and to its ``lora_A``/``lora_B``."""

    kind: str
    shape: tuple[int, ...]
    order: str | None = None

    def __post_init__(self) -> None:
        if self.kind == CONV_T and self.order not in (POINTWISE_FIRST, TRANSPOSED_FIRST):
            raise ValueError(f"transposed conv needs a factor order, got {self.order!r}")
        if self.kind not in (LINEAR, EMBEDDING, CONV1D, CONV_T):
            raise ValueError(f"unknown layer kind {self.kind!r}")

    def to_matrix(self, w: torch.Tensor) -> torch.Tensor:
        """The weight (or ΔW) as the matrix M = L·R the layer factors."""
        if self.kind == LINEAR:
            return w
        if self.kind == EMBEDDING:
            return w.t()
        if self.kind == CONV1D:
            return w.reshape(w.shape[0], -1)
        if self.order == TRANSPOSED_FIRST:  # W[i,o,k] = Σ B[o,r] A[i,r,k]: rows are outputs
            return w.permute(1, 0, 2).reshape(w.shape[1], -1)
        return w.reshape(w.shape[0], -1)  # pointwise first: W[i,o,k] = Σ A[r,i] B[r,o,k]: rows are inputs

    def to_factors(self, left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(lora_A, lora_B) holding L [m, r] and R [r, n]."""
        r = left.shape[1]
        if self.kind in (LINEAR, EMBEDDING):
            return right, left
        if self.kind == CONV1D:
            _, cin, k = self.shape
            return right.reshape(r, cin, k), left[:, :, None]
        cin, cout, k = self.shape
        if self.order == TRANSPOSED_FIRST:
            return right.reshape(r, cin, k).permute(1, 0, 2), left[:, :, None]
        return left.t()[:, :, None], right.reshape(r, cout, k)

    def from_factors(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(L, R) of stored factors: the inverse of :meth:`to_factors`."""
        if self.kind in (LINEAR, EMBEDDING):
            return b, a
        if self.kind == CONV1D:
            return b[:, :, 0], a.reshape(a.shape[0], -1)
        if self.order == TRANSPOSED_FIRST:
            return b[:, :, 0], a.permute(1, 0, 2).reshape(a.shape[1], -1)
        return a[:, :, 0].t(), b.reshape(b.shape[0], -1)


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run the block on one torch thread: for layer-sized LAPACK problems, thread start-up and sync cost more
    than they save (measured 0.2–4 s vs 8 ms per 256² eigh on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Spectrum:
    """The SVD of one layer's ΔW matrix, kept so any rank can be cut without recomputing it."""

    u: torch.Tensor
    s: torch.Tensor
    vh: torch.Tensor

    @classmethod
    def of(cls, matrix: torch.Tensor) -> Spectrum:
        """SVD through the eigendecomposition of the smaller Gram matrix, in fp64.

        LAPACK's SVD of RVC's wide conv matrices (e.g. 512 × 4096) is 10–50× slower on a CPU than one
        Gram product plus a symmetric eigensolver; in fp64 the σ resolved this way reach 1e-7 of the largest,
        far below anything an fp16 adapter stores.
        """
        m = matrix.to(torch.float64)
        if m.shape[0] > m.shape[1]:
            flipped = cls.of(m.t())
            return cls(flipped.vh.t(), flipped.s, flipped.u.t())
        with single_thread():
            eigval, eigvec = torch.linalg.eigh(m @ m.t())
        order = eigval.flip(0).clamp_min(0)
        u = eigvec.flip(1)
        s = order.sqrt()
        inv = torch.where(s > 0, 1.0 / torch.where(s > 0, s, torch.ones_like(s)), torch.zeros_like(s))
        return cls(u, s, (u.t() @ m) * inv[:, None])

    @classmethod
    def of_product(cls, left: torch.Tensor, right: torch.Tensor) -> Spectrum:
        """SVD of L·R without forming it: QR of both sides, then the SVD of a small r×r core."""
        with single_thread():
            q_l, r_l = torch.linalg.qr(left.to(torch.float64))
            q_r, r_r = torch.linalg.qr(right.to(torch.float64).t())
            u, s, vh = torch.linalg.svd(r_l @ r_r.t(), full_matrices=False)
        return cls(q_l @ u, s, vh @ q_r.t())

    @property
    def max_rank(self) -> int:
        """Rank after dropping singular values that are zero to working precision (below 1e-7 of the largest)."""
        if self.s.numel() == 0 or float(self.s[0]) == 0.0:
            return 0
        return int((self.s > self.s[0] * RELATIVE_ZERO).sum())

    @property
    def norm(self) -> float:
        return float(self.s.square().sum().sqrt())

    def residual(self, rank: int) -> float:
        """‖ΔW − ΔW_rank‖_F / ‖ΔW‖_F: the relative error of keeping ``rank`` singular values."""
        total = self.norm
        return float(self.s[rank:].square().sum().sqrt()) / total if total > 0 else 0.0

    def rank_for(self, eps: float) -> int:
        """The smallest rank whose relative residual is ≤ ``eps``."""
        if self.max_rank == 0:
            return 0
        tail = self.s.square().flip(0).cumsum(0).flip(0).sqrt() / self.norm  # tail[r] = residual(r)
        within = (tail <= eps).nonzero()
        return int(within[0]) if len(within) else self.max_rank

    def factors(self, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(L, R) of the rank-``rank`` truncation, √σ on each side, fp32."""
        root = self.s[:rank].sqrt()
        return (self.u[:, :rank] * root).to(torch.float32), (root[:, None] * self.vh[:rank]).to(torch.float32)
