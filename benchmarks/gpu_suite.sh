#!/usr/bin/env bash
# Every GPU measurement of docs/performance.md and docs/quantization.md in one go: the CUDA
# tests, the lattice kernels against their baselines, the attention modes (eager, compiled,
# profiled) with the resonance loss, the Λ24-SQ layer, the LLVQ shell search and encoder.
#
#   bash benchmarks/gpu_suite.sh OUT_DIR [STEP...]
#
# STEP is any of tests, kernels, stages, sweep, models, compiled, graphs, profile, large, layer, shells, llvq
# (default: all, in that order; graphs replays each training step from a CUDA graph; large is the attention-mode table at GPT-2-small width,
# d_model 768 and 12 layers, beside the default 384 and 6; PYTHON picks the interpreter,
# python3 by default). Each step writes its output to OUT_DIR/STEP.txt (and JSON or PNG where
# the script makes them), so a run cut by a time limit keeps the steps it finished. STEP_LIMIT (seconds, default 600) caps
# each command with `timeout -s INT`, so a cut command prints its traceback.
#
# The tests step runs every CUDA test of the suite as a pytest process of its own: a first
# call compiles the Triton kernels it needs (on an H200 with Triton 3.6 the packed hexacode
# decoder takes about 3.5 minutes per input dtype, the others seconds; Triton caches them on
# disk for the later tests), and a test that runs out of time is named in tests.txt. TEST_JOBS
# (default 1) runs that many test processes at once: the compiles are CPU work, so a machine
# with many cores finishes the step sooner; the tests assert results, not timings.
set -u
out=${1:?usage: gpu_suite.sh OUT_DIR [STEP...]}
shift
steps=${*:-tests kernels stages sweep models compiled graphs profile large layer shells llvq}
mkdir -p "$out"
model_args=(--device cuda --batch 32 --seq 256 --d-model 384 --n-layer 6 --n-head 8 --steps 30)
status=0
py=${PYTHON:-python3}
limit=${STEP_LIMIT:-600}
jobs_max=${TEST_JOBS:-1}

run() {  # run FILE CMD...: append the command, its output and its time to FILE
    local file=$1 start rc
    shift
    echo "== ${*}" >> "$file"
    start=$(date +%s)
    timeout -s INT -k 10 "$limit" "$@" >> "$file" 2>&1
    rc=$?
    echo "== rc $rc, $(( $(date +%s) - start )) s" >> "$file"
    return $rc
}

for step in $steps; do
    file="$out/$step.txt"
    : > "$file"
    start=$(date +%s)
    case $step in
        tests)
            mapfile -t tests < <("$py" -m pytest -q --collect-only -k "cuda and not without_a_gpu" tests/ 2>/dev/null | grep '::')
            logs=$(mktemp -d)
            for i in "${!tests[@]}"; do
                while (( $(jobs -rp | wc -l) >= jobs_max )); do wait -n; done
                run "$logs/$i" "$py" -m pytest -q -p no:cacheprovider --durations=1 "${tests[$i]}" &
            done
            while (( $(jobs -rp | wc -l) > 0 )); do wait -n || status=1; done
            for i in "${!tests[@]}"; do cat "$logs/$i" >> "$file"; done
            grep -q '^== rc [^0]' "$file" && status=1
            rm -rf "$logs"
            ;;
        kernels) run "$file" "$py" benchmarks/bench_gpu.py --points 1000000 --leech-points 64000000 --repeat 2 --json "$out/gpu.json" --plot "$out/gpu.png" || status=1 ;;
        stages) run "$file" "$py" benchmarks/bench_gpu.py --decode-stages --repeat 3 --json "$out/stages.json" --plot "$out/stages.png" || status=1 ;;
        sweep) run "$file" "$py" benchmarks/bench_gpu.py --sweep --points 1000000 --repeat 3 --max-registers 168 128 || status=1 ;;
        models) run "$file" "$py" benchmarks/bench_models.py "${model_args[@]}" || status=1 ;;
        compiled) run "$file" "$py" benchmarks/bench_models.py "${model_args[@]}" --compile || status=1 ;;
        graphs) run "$file" "$py" benchmarks/bench_models.py "${model_args[@]}" --cuda-graph || status=1 ;;
        profile) run "$file" "$py" benchmarks/bench_models.py "${model_args[@]}" --steps 2 --profile 8 || status=1 ;;
        large) run "$file" "$py" benchmarks/bench_models.py --device cuda --batch 16 --seq 512 --d-model 768 --n-layer 12 --n-head 8 --steps 10 || status=1 ;;
        layer) run "$file" "$py" benchmarks/bench_quantizer_layer.py --device cuda --json "$out/layer.json" || status=1 ;;
        shells) run "$file" "$py" benchmarks/bench_shell_search.py --device cuda --profile 25 || status=1 ;;
        llvq) run "$file" "$py" benchmarks/quantize_weights.py --speed-only --device cuda --variants rtn llvq llvq+H --profile 25 --out "$out/llvq" || status=1 ;;
        *) echo "unknown step $step" >&2; exit 2 ;;
    esac
    echo "== $step took $(( $(date +%s) - start )) s" | tee -a "$file"
done
exit $status
