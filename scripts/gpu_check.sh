#!/usr/bin/env bash
# The CUDA check: on a machine with one GPU, in under 5 minutes, run the tests that need CUDA
# and the population benchmark on the GPU, and write everything to one file.
#
#   bash scripts/gpu_check.sh [OUTPUT_FILE]      (default: gpu_check.txt)
#
# Needs lrlab installed with torch built for CUDA (pip install -e ".[all,test]" without the CPU
# constraints file). Record the numbers it prints in benchmarks/RESULTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu_check.txt}"
export KERAS_BACKEND="${KERAS_BACKEND:-torch}" MPLBACKEND=Agg
{
  echo "# lrlab GPU check, $(date -u +%Y-%m-%dT%H:%MZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"
  python3 -c "import torch, lrlab; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), 'lrlab', lrlab.__version__)"
  echo "## CUDA tests"
  timeout 150 python3 -m pytest -q -p no:cacheprovider -k "cuda or gpu or device" \
    tests/test_lab_population.py tests/test_finder_torch.py tests/test_lab_study.py \
    tests/test_integrations_torch.py 2>&1 | tail -25
  echo "## benchmarks/population.py --device cuda"
  timeout 120 python3 benchmarks/population.py --device cuda --quick 2>&1 | tail -40
} > "$out" 2>&1
echo "wrote $out"
