#!/usr/bin/env bash
# Downloads, into .whl/ at the repository root, the wheels the device machine lacks for bench/gpu_check.sh.
#
# The device machine (nvidia-h200) has Python 3.12, PyTorch and many packages but no network. Run this here,
# where PyPI answers, before the device call; that call names .whl in `carry`, and gpu_check.sh installs what
# .whl holds into /tmp/site there (bench/gpu_wheels.py says how the list is made):
#
#     bash bench/gpu_wheels.sh        # then: run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=600)
#
# .whl is ignored by .gitignore; the wheels travel with the working tree, which may be 64 MiB in all.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
python3 bench/gpu_wheels.py .whl
