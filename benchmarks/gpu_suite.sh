#!/usr/bin/env bash
# Every GPU measurement of docs/performance.md in one go (about 12 minutes on an H100):
# the CUDA tests, the lattice kernels against their baselines, the attention modes (eager,
# compiled, profiled) with the resonance loss, and the Λ24-SQ layer.
#
#   bash benchmarks/gpu_suite.sh OUT_DIR [STEP...]
#
# STEP is any of tests, kernels, sweep, models, compiled, profile, layer (default: all, in that
# order; PYTHON picks the interpreter, python3 by default). Each step writes its output to
# OUT_DIR/STEP.txt (and JSON or PNG where the script makes them), so a run cut by a time
# limit keeps the steps it finished.
set -u
out=${1:?usage: gpu_suite.sh OUT_DIR [STEP...]}
shift
steps=${*:-tests kernels sweep models compiled profile layer}
mkdir -p "$out"
model_args=(--device cuda --batch 32 --seq 256 --d-model 384 --n-layer 6 --n-head 8 --steps 10)
status=0
py=${PYTHON:-python3}
for step in $steps; do
    case $step in
        tests) cmd=("$py" -m pytest -q tests/test_gpu_path.py tests/test_tensor_quant.py) ;;
        kernels) cmd=("$py" benchmarks/bench_gpu.py --points 1000000 --repeat 2 --json "$out/gpu.json" --plot "$out/gpu.png") ;;
        sweep) cmd=("$py" benchmarks/bench_gpu.py --sweep --points 1000000 --repeat 3) ;;
        models) cmd=("$py" benchmarks/bench_models.py "${model_args[@]}") ;;
        compiled) cmd=("$py" benchmarks/bench_models.py "${model_args[@]}" --compile) ;;
        profile) cmd=("$py" benchmarks/bench_models.py "${model_args[@]}" --steps 2 --profile 8) ;;
        layer) cmd=("$py" benchmarks/bench_quantizer_layer.py --device cuda --json "$out/layer.json") ;;
        *) echo "unknown step $step" >&2; exit 2 ;;
    esac
    echo "== $step: ${cmd[*]}" | tee "$out/$step.txt"
    start=$(date +%s)
    "${cmd[@]}" >> "$out/$step.txt" 2>&1 || status=1
    echo "== $step took $(( $(date +%s) - start )) s" | tee -a "$out/$step.txt"
done
exit $status
