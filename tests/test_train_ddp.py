"""DDP: 2 CPU processes (gloo) with batch 1 each train the same adapter as 1 process with batch 2.

Both runs use zero-noise mode (torch.rand/randn and *_like return zeros, as for the reference fixtures)
so the only difference left is how the batch is split; the clips have equal length, so every per-rank
mean averages to the global mean and the adapters agree to float rounding.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from test_train import make_dataset, make_job

SCRIPT = """
import os, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
import torch
import torch.multiprocessing as mp

def zero_noise():
    for name in ("rand", "randn"):
        setattr(torch, name, lambda *s, **k: torch.zeros(*s, **{{a: b for a, b in k.items() if a in ("dtype", "device")}}))
    for name in ("rand_like", "randn_like"):
        setattr(torch, name, lambda x, **k: torch.zeros_like(x))

def worker(rank, world, port, root, ref, batch):
    zero_noise()
    from test_train import make_job
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                          LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import rvclora.train.loop as loop
    loop.run_training(make_job(Path(root), Path(ref), epochs=2, batch_size=batch, seed=3))
    if world > 1:
        torch.distributed.destroy_process_group()

if __name__ == "__main__":
    world, port, root, ref, batch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    if world > 1:
        mp.spawn(worker, args=(world, port, root, ref, batch), nprocs=world)
    else:
        worker(0, 1, port, root, ref, batch)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _zeros(*size, **kw):
    return torch.zeros(*size, **{k: v for k, v in kw.items() if k in ("dtype", "device")})


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(
    tmp_path: Path, reference_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rvclora.lora.adapter import read_adapter
    from rvclora.train.loop import run_training

    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)))
    roots = {w: tmp_path / f"w{w}" for w in (1, 2)}
    for root in roots.values():
        make_dataset(root, n_clips=4)
    run = subprocess.Popen([sys.executable, str(script), "2", str(_free_port()), str(roots[2]), str(reference_dir),
                            "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with monkeypatch.context() as m:  # the 1-process run, here while the 2 ranks run
        for name in ("rand", "randn"):
            m.setattr(torch, name, _zeros)
        for name in ("rand_like", "randn_like"):
            m.setattr(torch, name, lambda x, **k: torch.zeros_like(x))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            run_training(make_job(roots[1], reference_dir, epochs=2, batch_size=2, seed=3))
        finally:
            torch.set_num_threads(threads)
    _, stderr = run.communicate(timeout=240)
    assert run.returncode == 0, stderr[-3000:]
    one, _ = read_adapter(roots[1] / "adapters" / "voice.safetensors")
    two, _ = read_adapter(roots[2] / "adapters" / "voice.safetensors")
    assert one.keys() == two.keys()
    moved = 0
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-3, atol=1e-4)  # adapters are stored in fp16
        moved += int(k.endswith("lora_B") and one[k].abs().max() > 0)
    assert moved > 0  # training did change the adapter, so the comparison is not of two untouched inits
