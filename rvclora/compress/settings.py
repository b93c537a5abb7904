"""Defaults of ``rvclora compress`` in one place (torch-free: ``--help`` and docs read them)."""

from __future__ import annotations

DEFAULT_RANK = "auto"  # per-layer ranks chosen to meet DEFAULT_TARGET_SNR on the probe
DEFAULT_TARGET_SNR = 30.0  # dB, base + adapter against the original model on the probe
DEFAULT_TARGETS = "all"  # every LoRA-able layer of an inference model; the rest is stored whole
DEFAULT_PROBE_SECONDS = 2.0
DEFAULT_PRECISION = "fp16"
# A voice fine-tuned from the base changes its layers by a fraction of their size. Half or more
# (median over the targeted layers of ‖ΔW‖/‖W_base‖) means the voice was trained from another base: a
# random re-initialisation of the same architecture gives about √2.
UNRELATED_REL_DIFF = 0.5
# --rank auto: the per-layer residual budget ε is searched in [EPS_MIN, 1] on a log scale.
EPS_MIN = 1e-4
BISECTION_STEPS = 12
