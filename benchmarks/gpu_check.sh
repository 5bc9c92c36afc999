#!/usr/bin/env bash
# The CUDA checks for a machine with a GPU, in one run: the whole test suite (GPU tests included) with
# that machine's torch, then the layer and training-loop benchmarks on the GPU. Writes logs to $OUT when it is set.
set -uo pipefail
out=${OUT:-/tmp/rnnkit-gpu}
mkdir -p "$out"
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tee "$out/tests.log" | tail -25
python3 -m rnnkit demo --device cuda --steps 300 --seq-len 30 2>&1 | tail -3
python3 benchmarks/layers.py --device cuda --repeats 21 --json "$out/bench_gpu.json" 2>&1 | tee "$out/bench_gpu.txt"
python3 benchmarks/training_loop.py --device cuda --repeats 5 2>&1 | tee "$out/bench_fit_gpu.txt"
