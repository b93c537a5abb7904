#!/usr/bin/env bash
# The GPU figures of benchmarks/RESULTS.md on a lent machine, in one call that fits the device budget:
#   bash benchmarks/gpu_run.sh                       # every part, in this order
#   bash benchmarks/gpu_run.sh train profile         # some parts
# Parts, most wanted first (each under its own time limit, so one that overruns does not starve the rest):
#   realtime  rvclora.Stream latency per block (issue 17: total <= 150 ms with 100 ms blocks)
#   train     training step: reference vs full vs LoRA, batches 8 and 32 (items/s, peak GiB)
#   profile   torch.profiler's top kernels and launches per step at batch 8
#   extract   HuBERT, RMVPE and the whole extract stage, x real time
#   infer     `rvclora infer` end to end on 60 s (HuBERT, RMVPE, retrieval, synthesis), one and 8 voices
# Every script merges its figures into $OUT/gpu-YYYY-MM-DD.json as each part finishes, and each part's output
# goes to $OUT/<part>.log. Needs .whl/ from benchmarks/gpu_wheels.sh (carried).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheels did not install: run benchmarks/gpu_wheels.sh here and carry .whl"; exit 2; }
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
out=${OUT:-/tmp}
json="$out/gpu-$(date -u +%F).json"
bench() {  # bench SECONDS SCRIPT ARGS...: one script under a time limit, its figures into $json
  local limit=$1; shift
  echo "=== python benchmarks/$* (limit ${limit} s)"
  (cd benchmarks && timeout "$limit" python3 "$@" --json "$json") 2>&1
  echo "(exit $?)"
}
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(realtime train profile extract infer)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
for part in "${parts[@]}"; do
  {
    case "$part" in
      realtime) bench 80 realtime_latency.py --device cuda --steps 30 --warmup 5 --blocks 0.1 0.25 --edges 0.05:0.05 0.02:0.02 0.01:0.01 ;;
      train) bench 170 train_step.py --batch 8 32 ;;
      profile) bench 100 train_step.py --batch 8 --profile ;;
      extract) bench 30 extract_speed.py --seconds 60 --devices cuda
               bench 30 f0_speed.py --seconds 60 --methods rmvpe --devices cuda --gru-windows 512:256
               bench 50 extract_speed.py --stage-clips 300 --seconds 60 ;;
      infer) bench 90 infer_speed.py --seconds 60 --devices cuda --f0-method rmvpe --index --precisions fp16 ;;
      *) echo "unknown part $part (realtime, train, profile, extract, infer)"; exit 2 ;;
    esac
  } 2>&1 | tee "$out/$part.log"
done
