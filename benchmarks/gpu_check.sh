#!/usr/bin/env bash
# One prepared GPU check (< 8 minutes on one GPU). Writes JSON to $OUT (or ./gpu-check-out):
#   1. the CUDA-marked tests (python -m pytest tests -q -m cuda), when a `cuda` marker exists;
#   2. benchmarks/bench_scale.py --device cuda, one run per shape → bench_scale.json;
#   3. a short LaTen and Seeking transfer on a ~1B-scale random pair in bf16, checking that each
#      saved (merged) model reloads with the same outputs, plus one two-GPU placement (teacher on
#      cuda:1, student on cuda:0) where two GPUs exist → transfer_check.json;
#   4. gpu_check.json: every step's status and results.
# With --tiny, or without CUDA, it runs the same steps on micro random shapes on the CPU (so the
# script cannot rot; tests/test_gpu_check.py runs it that way).
#
#   bash benchmarks/gpu_check.sh [--tiny]
#   BENCH_ONLY=smollm2,qwen25 BENCH_TIMEOUT=300 bash benchmarks/gpu_check.sh  (timeout per shape)
set -uo pipefail

cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-./gpu-check-out}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
export OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1
PY="${PYTHON:-python}"

TINY=0
for arg in "$@"; do
  case "$arg" in
    --tiny) TINY=1 ;;
    *) echo "unknown argument: $arg (usage: gpu_check.sh [--tiny])" >&2; exit 2 ;;
  esac
done
if [ "$TINY" = 0 ] && ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_check: no CUDA device; running the tiny CPU version" >&2
  TINY=1
fi
if [ "$TINY" = 1 ]; then DEVICE=cpu; else DEVICE=cuda; fi
STARTED=$(date +%s)
STATUS_FILE="$OUT_DIR/steps.tsv"
: > "$STATUS_FILE"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$STATUS_FILE"; echo "gpu_check: $1: $2 $3" >&2; }

# ---- 1. CUDA-marked tests ---------------------------------------------------------------------
if [ "$TINY" = 1 ]; then
  record cuda_tests skipped "tiny/CPU mode"
elif "$PY" -m pytest --markers 2>/dev/null | grep -q '^@pytest.mark.cuda'; then
  if timeout 90 "$PY" -m pytest tests -q -m cuda -rs > "$OUT_DIR/cuda_tests.txt" 2>&1; then
    record cuda_tests passed "see cuda_tests.txt"
  else
    record cuda_tests failed "rc=$?, see cuda_tests.txt"
  fi
else
  record cuda_tests skipped "no 'cuda' pytest marker is registered"
fi

# ---- 2. bench_scale, one process per shape (a slow shape cannot lose the others' results) ----
if [ "$TINY" = 1 ]; then
  BENCH_ARGS=(--tiny --device cpu --examples 1 --batch 2 --lora-steps 1 --max-len 64)
  declare -A LIMIT=([smollm2]=60 [qwen25]=60 [llama2]=60)
else
  BENCH_ARGS=(--device cuda)
  # seconds; the worst case of all steps (90 + 40 + 60 + 170 + 100 s) stays under 8 minutes
  declare -A LIMIT=([smollm2]=40 [qwen25]=60 [llama2]=170)
fi
BENCH_FAILED=()
IFS=, read -r -a SHAPES <<< "${BENCH_ONLY:-smollm2,qwen25,llama2}"
for shape in "${SHAPES[@]}"; do
  limit="${BENCH_TIMEOUT:-${LIMIT[$shape]:-120}}"
  timeout "$limit" "$PY" benchmarks/bench_scale.py "${BENCH_ARGS[@]}" --only "$shape" \
      > "$OUT_DIR/bench_scale-$shape.json" 2> "$OUT_DIR/bench_scale-$shape.err"
  rc=$?
  [ "$rc" = 0 ] || BENCH_FAILED+=("$shape: rc=$rc (timeout ${limit}s), see bench_scale-$shape.err")
done
if [ "${#BENCH_FAILED[@]}" = 0 ]; then
  record bench_scale passed "bench_scale-<shape>.json"
else
  record bench_scale failed "$(IFS=';'; echo "${BENCH_FAILED[*]}")"
fi

# ---- 3. transfer check ------------------------------------------------------------------------
TRANSFER_TIMEOUT=$([ "$TINY" = 1 ] && echo 90 || echo 100)
if timeout "$TRANSFER_TIMEOUT" "$PY" - "$DEVICE" "$OUT_DIR" > "$OUT_DIR/transfer_check.json" \
    2> "$OUT_DIR/transfer_check.err" <<'PY'
"""LaTen + Seeking on a random pair; the saved model must reload with the same outputs."""
import json, shutil, sys, time
from pathlib import Path

sys.path.insert(0, ".")
import torch
from benchmarks.scratch import scratch_dir
from pkt_core.models import load_model
from pkt_core.models.synthetic import random_config
from pkt_core.transfer import TransferRequest, run_transfer

device, out_dir = sys.argv[1], Path(sys.argv[2])
tiny = device == "cpu"
dtype = torch.float32 if tiny else torch.bfloat16
# (family, layers, hidden, heads, kv heads, ffn, vocab): TinyLlama-1.1B-shaped teacher, 0.25B student
SHAPES = {"teacher": ("llama", 22, 2048, 32, 4, 5632, 32000), "student": ("llama", 16, 1024, 16, 4, 2816, 32000)}
if tiny:
    SHAPES = {"teacher": ("llama", 4, 96, 4, 2, 256, 3000), "student": ("llama", 2, 64, 4, 2, 172, 3000)}


def build(root):
    from transformers import AutoModelForCausalLM
    paths = {}
    for seed, (role, (family, L, d, h, kv, f, V)) in enumerate(SHAPES.items()):
        cfg = random_config(family, n_layers=L, hidden=d, ffn=f, n_heads=h, n_kv_heads=kv, vocab=V)
        torch.manual_seed(seed)
        with torch.device("cpu" if tiny else "cuda"):  # random init is fast on the GPU
            AutoModelForCausalLM.from_config(cfg, torch_dtype=dtype).save_pretrained(root / role)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            src = Path("assets/models/pkt-tiny-student") / name
            if src.is_file():
                shutil.copy(src, root / role / name)
        paths[role] = str(root / role)
    data = root / "data"
    data.mkdir()
    for split, n in {"extract": 4, "align": 8, "train": 16, "test": 2}.items():
        rows = [{"id": f"{split}-{i}", "messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                                                    {"role": "assistant", "content": f"{2 * i}"}]}
                for i in range(n)]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return paths, str(data)


def same_outputs(result, t_dev, s_dev):
    model = result.outcome.model
    model = model.get_base_model() if hasattr(model, "get_base_model") else model
    reloaded = load_model(str(Path(result.run_dir) / "model"), device=s_dev, dtype=dtype)
    ids = torch.arange(1, 33, device=s_dev)[None]
    with torch.no_grad():
        a = model(input_ids=ids).logits.float()
        b = reloaded.model(input_ids=ids).logits.float()
    diff = (a - b).abs().max().item()
    return {"max_abs_logit_diff": diff, "same_outputs": bool(diff <= 1e-2 * max(1.0, a.abs().max().item()))}


def transfer(paths, data, paradigm, settings, out, t_dev, s_dev):
    for i in range(torch.cuda.device_count()):  # each run's own peak, on every GPU it used
        torch.cuda.reset_peak_memory_stats(i)
    start = time.perf_counter()
    req = TransferRequest(paradigm=paradigm, student=paths["student"], teacher=paths["teacher"], data=data,
                          settings=settings, out=str(out), eval_limit=2, task_options={"max_new_tokens": 4},
                          student_device=s_dev, teacher_device=t_dev,
                          dtype="float32" if tiny else "bfloat16")
    result = run_transfer(req)
    row = {"status": result.status, "seconds": round(time.perf_counter() - start, 2),
           "teacher_device": t_dev, "student_device": s_dev, **same_outputs(result, t_dev, s_dev)}
    if device == "cuda":
        row["peak_gpu_mb"] = {f"cuda:{i}": round(torch.cuda.max_memory_allocated(i) / 2**20, 1)
                              for i in range(torch.cuda.device_count())}
    return row


report = {"device": device, "dtype": str(dtype), "shapes": SHAPES}
with scratch_dir("gpu-check-") as root:  # removed even when `timeout` stops the script
    paths, data = build(root)
    dev = "cuda:0" if device == "cuda" else "cpu"
    laten = {"steps": 2, "lr": 1e-2, "init_std": 1e-2}
    seeking = {"epochs": 0.5, "batch_size": 8, "n_sensitivity_examples": 3}
    report["laten"] = transfer(paths, data, "laten", laten, root / "run-laten", dev, dev)
    report["seeking"] = transfer(paths, data, "seeking", seeking, root / "run-seeking", dev, dev)
    if device == "cuda" and torch.cuda.device_count() >= 2:
        report["two_gpu_laten"] = transfer(paths, data, "laten", laten, root / "run-2gpu", "cuda:1", "cuda:0")
    else:
        report["two_gpu_laten"] = {"status": "skipped", "reason": "fewer than two CUDA devices"}
runs = [r for r in report.values() if isinstance(r, dict) and "same_outputs" in r]
report["ok"] = all(r["status"] == "complete" and r["same_outputs"] for r in runs)
print(json.dumps(report, indent=2))
sys.exit(0 if report["ok"] else 1)
PY
then
  record transfer_check passed "transfer_check.json"
else
  record transfer_check failed "rc=$? (timeout ${TRANSFER_TIMEOUT}s), see transfer_check.err"
fi

# ---- 4. summary -------------------------------------------------------------------------------
"$PY" - "$OUT_DIR" "$TINY" "$DEVICE" "$STARTED" <<'PY'
import json, sys, time
from pathlib import Path

out, tiny, device, started = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], int(sys.argv[4])
steps = {}
for line in (out / "steps.tsv").read_text().splitlines():
    name, status, note = line.split("\t")
    steps[name] = {"status": status, "note": note}
def read(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


steps["transfer_check"]["result"] = read(out / "transfer_check.json")
bench = {"skipped": {}, "failed": []}
for path in sorted(out.glob("bench_scale-*.json")):
    shape, got = path.stem.split("-", 1)[1], read(path)
    if got is None:
        bench["failed"].append(shape)
        continue
    bench["skipped"].update(got.pop("skipped"))
    bench[shape] = got.get(shape)
    bench.setdefault("runs", {})[shape] = got
(out / "bench_scale.json").write_text(json.dumps(bench, indent=2))
steps["bench_scale"]["result"] = bench
summary = {"tiny": tiny, "device": device, "seconds": int(time.time()) - started,
           "ok": all(s["status"] in ("passed", "skipped") for s in steps.values()), "steps": steps}
(out / "gpu_check.json").write_text(json.dumps(summary, indent=2))
print(json.dumps({k: summary[k] for k in ("tiny", "device", "seconds", "ok")}
                 | {"steps": {k: v["status"] for k, v in steps.items()}}))
sys.exit(0 if summary["ok"] else 1)
PY
