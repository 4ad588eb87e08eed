#!/usr/bin/env bash
# The GPU figures committed under benchmarks/results/*_gpu.*: run from the repository
# root on a machine with an NVIDIA GPU. It first installs the package the way the README
# says ("On a GPU or TPU": the `cuda` extra, plus `bench` for torch); INSTALL=0 skips that.
#
#     OUT=benchmarks/results bash benchmarks/gpu.sh
#
# Stages, each under its own time limit (seconds, overridable) so one slow stage cannot
# starve the rest; every stage writes its results as it goes (paper_tables after each
# group of cells), so a stage cut off keeps what it finished.
#   1. speed: invjax vs PyTorch CUDA, the rows of benchmarks/speed.py that SPEED_ARGS
#      picks (default: every row, torch eager and torch.compile(mode="reduce-overhead")).
#   2. grids at the paper's sizes (the shipped configs), one after the other.
#   3. the v3 study (benchmarks/v3_study.py) for V3_S seconds (default 0: skipped), with
#      V3_ARGS (e.g. "--only many_warehouses --sizes 2 3"); it keeps every finished cell.
# The committed H200 results came from two calls (15 minutes of device time in all):
# stages 1 and 2 for one_store_backlogged, then GRIDS="one_store_lost:120 serial:90
# transshipment:70" and one_warehouse (n = 5, 50) for 100 s, with SPEED_S=0. Serial
# stopped after two of its four lead times, transshipment finished no group, and
# one_warehouse two cells. What issue 14 still asks of a GPU, in one call (~12 min):
#
#     SPEED_S=300 SPEED_ARGS="--torch-compile on --no-many --only gnn symmetry_aware" \
#     GRIDS= V3_S=300 V3_ARGS="--policies gnn --scenarios 1024 --steps 1000 \
#     --test 2048 2000 500 --sizes 20 30 50" OUT=benchmarks/results bash benchmarks/gpu.sh
set -u
OUT=${OUT:-benchmarks/results}
SPEED_S=${SPEED_S:-220}
GRIDS=${GRIDS-one_store_backlogged:330}  # GRIDS= (empty): no grid
V3_S=${V3_S:-0}
mkdir -p "$OUT"
if [ "${INSTALL:-1}" != 0 ]; then
  python3 -m pip install --quiet -e ".[cuda,bench]" || exit 1
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # torch shares the GPU; measure what is used
LOG=$OUT/gpu_log.txt
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import sys, jax, flax, optax, torch; print(sys.version.split()[0], 'jax',
jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'torch',
torch.__version__, jax.devices())"
} 2>&1 | tee "$LOG"
if [ "$SPEED_S" -gt 0 ]; then
  echo "== speed ($SPEED_S s)" | tee -a "$LOG"
  # shellcheck disable=SC2086  # SPEED_ARGS is a list of arguments
  timeout "$SPEED_S" python3 -m benchmarks.speed --out "$OUT" ${SPEED_ARGS:---torch-compile on} \
    2>&1 | tee -a "$LOG"
fi
for stage in $GRIDS; do
  setting=${stage%%:*} seconds=${stage##*:}
  echo "== $setting ($seconds s)" | tee -a "$LOG"
  timeout "$seconds" python3 -m benchmarks.paper_tables --only "$setting" \
    --out "$OUT" --name "${setting}_gpu" 2>&1 | tee -a "$LOG"
done
if [ "$V3_S" -gt 0 ]; then
  echo "== v3 study ($V3_S s) ${V3_ARGS:-}" | tee -a "$LOG"
  # shellcheck disable=SC2086  # V3_ARGS is a list of arguments
  timeout "$V3_S" python3 -m benchmarks.v3_study --out "$OUT" --name v3_study_gpu \
    ${V3_ARGS:-} 2>&1 | tee -a "$LOG"
fi
echo "== done $(date -u)" | tee -a "$LOG"
