#!/usr/bin/env bash
# The GPU figures of benchmarks/RESULTS.md on a lent machine, in parts that each fit one 10-minute call:
#   bash benchmarks/gpu_run.sh train            # training step: reference vs full vs LoRA, batches 8 and 32
#   bash benchmarks/gpu_run.sh extract infer    # extraction (HuBERT, RMVPE, the whole stage) and conversion
#   bash benchmarks/gpu_run.sh synth            # synthesis: eager vs fast path
# Needs .whl/ from benchmarks/gpu_wheels.sh (carried). Each part's output also goes to $OUT/<part>.log.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheels did not install: run benchmarks/gpu_wheels.sh here and carry .whl"; exit 2; }
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
out=${OUT:-/tmp}
bench() { echo "=== python benchmarks/$*"; python3 "benchmarks/$@" 2>&1; echo "(exit $?)"; }
for part in "$@"; do
  {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
    case "$part" in
      train) bench train_step.py --batch 8 32 ;;
      extract) bench extract_speed.py --seconds 60
               bench f0_speed.py --seconds 60 --methods rmvpe
               bench extract_speed.py --stage-clips 300 --seconds 60 ;;
      infer) bench infer_speed.py --seconds 60 --f0-method rmvpe --index --precisions fp16 ;;
      synth) bench synthesis_speed.py --seconds 60 --repeats 5 ;;
      *) echo "unknown part $part (train, extract, infer, synth)"; exit 2 ;;
    esac
  } 2>&1 | tee "$out/$part.log"
done
