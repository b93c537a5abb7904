#!/usr/bin/env bash
# Wheels that a lent GPU machine lacks, for its Python 3.12, at the versions installed here, into .whl/ (kept
# out of git). Its image already has torch, numpy, scipy, typer, rich, pyyaml, safetensors, tensorboard and
# numba. pyworld has no binary wheel, so dio/harvest are not benchmarked there. Run in the repository root;
# then every `run` names .whl in `carry` and starts with `bash benchmarks/gpu_run.sh ...`.
set -euo pipefail
mkdir -p .git/info && { grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude; }
mkdir -p .whl
for pkg in soundfile librosa faiss-cpu soxr audioread pooch platformdirs cffi pycparser decorator; do
  version=$(python -m pip show "$pkg" 2>/dev/null | sed -n 's/^Version: //p')
  python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d .whl "$pkg${version:+==$version}"
done
du -sh .whl
