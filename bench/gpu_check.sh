#!/usr/bin/env bash
# The ready GPU check (issue 14): one script, under 10 minutes on one H200, that prints samples/s for the
# training paths A, B and C (ResNet-18 at 32 px batch 512, ViT-S at 96 px batch 512), their data_wait and peak
# GPU memory, and embed-route throughput with the server on CUDA and on CPU (bench/gpu_check.py does the work).
#
#     bash bench/gpu_check.sh               # on a lent device machine: see README, "GPU check"
#     bash bench/gpu_check.sh --cpu-smoke   # the same code paths at tiny sizes on CPU, in seconds (CI runs it)
#
# Wheels in .whl/ (bench/gpu_wheels.sh puts there what the device image lacks) are installed into /tmp/site
# first. Then it says which imports are still missing, if any, and stops; else it runs the parts and writes
# the table, and the parts' logs, under $OUT when OUT is set.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
python=${PYTHON:-python3}
site=${GPU_CHECK_SITE:-/tmp/site}

wheels_fit() {  # gpu_wheels.sh fetched them for the device's CPython 3.12
    "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'
}
if compgen -G ".whl/*.whl" >/dev/null && ! wheels_fit; then
    echo "not installing .whl: its wheels are for CPython 3.12, this is $("$python" -V)"
fi
if compgen -G ".whl/*.whl" >/dev/null && wheels_fit; then
    echo "installing $(ls .whl/*.whl | wc -l) carried wheels into $site"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
    export PYTHONPATH="$root:$site${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1

logs=()  # gpu_check.py first says which imports are missing, if any, and stops there
[[ -n ${OUT:-} ]] && logs=(--logs "$OUT/gpu_check_logs")
exec "$python" bench/gpu_check.py "${logs[@]}" "$@"
