"""Kill a training process with SIGKILL mid-run; the resumed run matches an uninterrupted one step for step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_train import make_dataset, make_job, steps_of

VICTIM = """
import sys, time
sys.path.insert(0, {tests!r})
from pathlib import Path
import rvclora.train.loop as loop
from helpers_train import make_job

real_step = loop.train_step
count = {{"n": 0}}
def slow_step(*a, **k):  # throttle after the first checkpointed epochs so the kill lands mid-run
    count["n"] += 1
    if count["n"] > 6:
        time.sleep(0.25)
    return real_step(*a, **k)
loop.train_step = slow_step
loop.run_training(make_job(Path({root!r}), Path({ref!r}), epochs=4, seed=7))
"""


def _losses(root: Path) -> list[list[float]]:
    keys = ("loss_d", "loss_g", "loss_mel", "loss_kl", "loss_fm", "loss_gen", "grad_norm_g", "grad_norm_d")
    return [[r["step"]] + [r[k] for k in keys] for r in steps_of(root)]


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path: Path, reference_dir: Path) -> None:
    from rvclora.lora.adapter import read_adapter
    from rvclora.train.loop import run_training

    ref_root, cut_root = tmp_path / "ref", tmp_path / "cut"
    for r in (ref_root, cut_root):
        make_dataset(r, n_clips=5)
    reference = run_training(make_job(ref_root, reference_dir, epochs=4, seed=7))
    assert reference.steps == 12

    script = tmp_path / "victim.py"
    script.write_text(VICTIM.format(tests=str(Path(__file__).parents[1]), root=str(cut_root), ref=str(reference_dir)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state_after_epoch2 = cut_root / "checkpoints" / "state_e00002_s00000006.pt"
    deadline = time.time() + 300  # generous: a loaded machine takes long to reach epoch 2; the loop ends when it does
    while not state_after_epoch2.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # inside the throttled steps 7..
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (cut_root / "adapters" / "voice.safetensors").exists()
    assert max(r["step"] for r in steps_of(cut_root)) >= 6

    resumed = run_training(make_job(cut_root, reference_dir, epochs=4, seed=7))
    assert resumed.resumed_from is not None and resumed.resumed_from.name.startswith("state_e00002")
    assert resumed.steps == 12
    got, want = _losses(cut_root), _losses(ref_root)
    assert [r[0] for r in got] == list(range(1, 13))  # no duplicated or missing step after the cut
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-6, atol=1e-7)
    a, _ = read_adapter(resumed.output)
    b, _ = read_adapter(reference.output)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7)
