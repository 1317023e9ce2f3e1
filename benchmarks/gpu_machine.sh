#!/usr/bin/env bash
# The GPU figures in the README, produced in one run on a GPU machine like the one lent to this
# project (Python 3.12 with jax/torch, no TensorFlow, no package registry). From the project root:
#
#   ../shared/tools/gpu-wheels.sh zarrs onnx   # here: keras, dask, zarr, zarrs, segyio, onnx ... as wheels in .whl/
#                                              (without zarrs there, seisbatch falls back to zarr-python's pipeline;
#                                              onnx builds the graph the onnx engine gives to ONNX Runtime)
#   benchmarks/gpu_machine.sh bench train      # there, with .whl carried along
#
# Steps (any of them, in order):
#   bench    benchmarks/gpu.py: matmul ceiling, bare model on every engine (keras, onnx, jax) and
#            precision, each checked against keras float32 first, and the whole Zarr-to-Zarr pipeline
#   train    the paper's recipe (50 epochs, RMSprop 1e-3, batch 32) on a make-dataset file, timed,
#            then held-out results on 5 dB and noise-free patches
#   finetune two longer fine-tuning stages from the paper50 model (the model card's recipe), evaluated
#   convert  benchmarks/convert.py on this machine's CPU cores (no GPU involved)
# Results go to $OUT (default benchmarks/output/gpu-machine). KERAS_BACKEND defaults to jax.
# TRAIN_NAME (paper50) and TRAIN_FLAGS (e.g. --mixed-precision) vary the train step;
# BENCH_FLAGS adds options of gpu.py; EPOCHS, FT_EPOCHS, COUNT, INLINES, TASKS_PER_GPU, CONVERT_MB and CONVERT_WORKERS shrink or grow the runs.
set -uo pipefail
OUT=${OUT:-benchmarks/output/gpu-machine}
mkdir -p "$OUT"
W=${WORK:-/tmp/seisbatch-gpu}
mkdir -p "$W"
PY=${PYTHON:-python3}
if [ -d .whl ] && ! $PY -c "import keras, dask, zarr, segyio" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
    export PYTHONPATH=/tmp/site:$PWD
fi
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>/dev/null
$PY -c "import sys, keras, dask, zarr, segyio, numpy; print(sys.version.split()[0], 'keras', keras.__version__, keras.backend.backend(), 'dask', dask.__version__, 'zarr', zarr.__version__, 'numpy', numpy.__version__)" || exit

datasets() {  # the model card's training and held-out sets, made here (seeded: the same files anywhere)
    for args in "train.h5 --count ${COUNT:-12800} --snr 0:20 --clean-fraction 0.1 --seed 0" \
                "eval5.h5 --count $(( ${COUNT:-12800} * 5 / 32 )) --snr 5 --seed 1" \
                "evalclean.h5 --count $(( ${COUNT:-12800} * 5 / 64 )) --snr 5 --clean-fraction 1 --seed 2"; do
        set -- $args
        [ -f $W/$1 ] || $PY -m seisbatch make-dataset $W/$args --quiet || exit
    done
}

for step in "$@"; do
    t0=$(date +%s)
    echo "=== $step"
    case $step in
    bench)
        $PY -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" 2>&1
        $PY benchmarks/gpu.py --inlines "${INLINES:-256}" --tasks-per-gpu "${TASKS_PER_GPU:-2,4,8}" \
            --json "$OUT/gpu.json" ${BENCH_FLAGS:-} 2>&1 | tee "$OUT/gpu.log"
        ;;
    train)
        datasets
        s=$EPOCHREALTIME
        name=${TRAIN_NAME:-paper50}
        $PY -m seisbatch train $W/train.h5 --out $W/$name.keras --epochs "${EPOCHS:-50}" --overwrite \
            --recalibrate-bn 50 ${TRAIN_FLAGS:-} 2>&1 | tee "$OUT/$name.log" || exit
        echo "train wall seconds (the whole command: start, 50 epochs, recalibration, evaluation): $($PY -c "print(round($EPOCHREALTIME - $s, 1))")"
        cp $W/$name.keras $W/$name.history.csv $W/$name.metrics.json "$OUT/"
        for d in eval5 evalclean; do
            $PY -m seisbatch evaluate $W/$name.keras $W/$d.h5 --all --json > "$OUT/$name-$d.json" || exit
            cat "$OUT/$name-$d.json"
        done
        ;;
    finetune)
        # the model card's later stages, longer: from paper50.keras ($W, else $FROM), at 1e-4 on the
        # same mix, then at 3e-5 on 3-8 dB patches with 30% noise-free ones; BatchNorm recalibrated
        datasets
        [ -f $W/paper50.keras ] || cp "${FROM:-.gpu_carry}/paper50.keras" $W/ || exit
        [ -f $W/train-5.h5 ] || $PY -m seisbatch make-dataset $W/train-5.h5 --count "${COUNT:-12800}" --snr 3:8 \
            --clean-fraction 0.3 --seed 5 --quiet || exit
        prev=paper50
        for stage in "ft1 train.h5 1e-4" "ft2 train-5.h5 3e-5"; do
            set -- $stage
            $PY -m seisbatch train $W/$2 --out $W/$1.keras --init $W/$prev.keras --learning-rate $3 \
                --epochs "${FT_EPOCHS:-10}" --recalibrate-bn 50 --overwrite 2>&1 | tee "$OUT/$1.log" || exit
            cp $W/$1.keras $W/$1.history.csv "$OUT/"
            for d in eval5 evalclean; do
                $PY -m seisbatch evaluate $W/$1.keras $W/$d.h5 --all --json > "$OUT/$1-$d.json" || exit
                cat "$OUT/$1-$d.json"
            done
            prev=$1
        done
        ;;
    convert)
        $PY benchmarks/convert.py --size-mb "${CONVERT_MB:-500}" --workers "${CONVERT_WORKERS:-16}" \
            --workdir $W 2>&1 | tee "$OUT/convert.log"
        ;;
    *) echo "unknown step $step (bench, train, finetune, convert)"; exit 2 ;;
    esac
    echo "=== $step took $(( $(date +%s) - t0 )) s"
    # a lent machine sends back at most 8 files: each step's files but the models go into one archive
    (cd "$OUT" && ls | grep -v -e '\.keras$' -e '\.tgz$' | tar czf "results-$step.tgz" -T - --remove-files)
done
ls -la "$OUT"
