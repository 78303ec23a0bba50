"""The embedded model family: a tokenizer and tiny Llama models really trained on the toy world.

`build_zoo()` regenerates everything from a seed: the toy-world corpus (pkt_core.tasks.toyworld),
a byte-level BPE tokenizer trained on it, and each size of the family trained on the *same* token
stream in the *same* order — so the only difference between teacher and student is scale. Each
model is saved in bfloat16 (to keep assets/ small), reloaded, and scored on the four toy tasks
through `pkt_core.evaluate.evaluate_task`, the function the CLI uses, so scores.json reproduces.
"""
from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..infra import paths
from ..tasks.toyworld import TOY_TASKS, corpus_documents, corpus_stats, toy_tasks

EOS, USER, ASSISTANT = "<|endoftext|>", "<|user|>", "<|assistant|>"
DEFAULT_OUT = paths.shipped_models_dir()
DEFAULT_TOKENS = 8_000_000
SEQ_LEN, BATCH = 256, 16


@dataclass(frozen=True)
class Size:
    name: str
    layers: int
    hidden: int
    ffn: int
    heads: int
    lr: float  # tuned per size: the larger model wants a higher peak LR at this token budget
    # Added to the seed for the initial weights only: the data and its order stay the seed's, so
    # a member with an offset differs from its same-shape sibling by initialisation alone.
    init_offset: int = 0


FAMILY: dict[str, Size] = {
    "student": Size("pkt-tiny-student", 4, 64, 172, 4, 3e-3),
    # The same-size sibling: is incompatibility about scale, or about separate training?
    "sibling": Size("pkt-tiny-sibling", 4, 64, 172, 4, 3e-3, init_offset=1),
    "middle": Size("pkt-tiny-middle", 6, 192, 512, 6, 2.5e-3),
    "teacher": Size("pkt-tiny-teacher", 8, 256, 688, 8, 2e-3),
}


# ---- tokenizer -------------------------------------------------------------------------------
def train_tokenizer(texts: list[str], vocab_size: int = 3000) -> Any:
    """Byte-level BPE with digits split one by one (so numbers are spelled digit by digit)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Newlines are always their own token: otherwise "\n" + indentation merges in training text
    # but a prompt ending in "<|assistant|>\n" ends on a bare "\n" the model never saw there.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\n", behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, USER, ASSISTANT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  min_frequency=2, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS,
                                   bos_token=None, unk_token=None,
                                   additional_special_tokens=[USER, ASSISTANT])
    fast.model_max_length = 512
    return fast


def token_stream(tokenizer: Any, seed: int, world_size: float, n_tokens: int) -> torch.Tensor:
    """The training tokens: seeded documents, each followed by EOS (so generation learns to stop)."""
    docs = corpus_documents(seed, world_size, stream_seed=1)
    eos = tokenizer.eos_token_id
    chunks: list[torch.Tensor] = []
    total = 0
    while total < n_tokens + 1:
        batch = [next(docs) for _ in range(2000)]
        ids = tokenizer(batch, add_special_tokens=False)["input_ids"]
        flat = [t for row in ids for t in row + [eos]]
        chunks.append(torch.tensor(flat, dtype=torch.int32))
        total += len(flat)
    return torch.cat(chunks)[: n_tokens + 1]


# ---- models ----------------------------------------------------------------------------------
def make_config(size: Size, vocab: int, tokenizer: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab, hidden_size=size.hidden, intermediate_size=size.ffn,
                       num_hidden_layers=size.layers, num_attention_heads=size.heads,
                       num_key_value_heads=size.heads, max_position_embeddings=512,
                       rms_norm_eps=1e-5, tie_word_embeddings=False,
                       bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)


def lr_at(step: int, total: int, peak: float, warmup_frac: float = 0.03) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    warm = max(1, int(total * warmup_frac))
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def train_model(size: Size, tokenizer: Any, data: torch.Tensor, seed: int,
                progress: bool = True) -> tuple[Any, dict[str, Any]]:
    """One pass over `data` (same order for every size); returns the model and a training log."""
    from tqdm import tqdm
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed + size.init_offset)
    model = LlamaForCausalLM(make_config(size, len(tokenizer), tokenizer))
    n_seq = (len(data) - 1) // SEQ_LEN
    order = torch.randperm(n_seq, generator=torch.Generator().manual_seed(seed))  # every member's
    steps = max(1, n_seq // BATCH)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=size.lr, betas=(0.9, 0.95), eps=1e-8)
    losses: list[float] = []
    started = time.perf_counter()
    model.train()
    bar = tqdm(range(steps), desc=f"train {size.name}", disable=not progress, mininterval=5)
    for step in bar:
        idx = order[step * BATCH:(step + 1) * BATCH]
        rows = torch.stack([data[i * SEQ_LEN:(i + 1) * SEQ_LEN + 1] for i in idx.tolist()]).long()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, size.lr)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(input_ids=rows[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                                 rows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    model.eval()
    seconds = time.perf_counter() - started
    # Loss at every 10% of training (mean of the surrounding window) for the model card.
    marks = {}
    for pct in range(10, 101, 10):
        end = max(1, steps * pct // 100)
        window = losses[max(0, end - max(1, steps // 20)):end]
        marks[f"{pct}%"] = round(sum(window) / len(window), 4)
    log = {"steps": steps, "tokens": steps * BATCH * SEQ_LEN, "seconds": round(seconds, 1),
           "tokens_per_s": round(steps * BATCH * SEQ_LEN / max(seconds, 1e-9)),
           "loss_first": round(losses[0], 4), "loss_curve": marks, "peak_lr": size.lr}
    return model, log


def save_model(model: Any, tokenizer: Any, path: Path) -> None:
    """bf16 weights on disk (half the bytes); loaders upcast to fp32 on CPU."""
    path.mkdir(parents=True, exist_ok=True)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.to(torch.bfloat16).save_pretrained(path, safe_serialization=True)
    model.to(torch.float32)
    tokenizer.save_pretrained(path)


def evaluate_saved(path: Path, seed: int, world_size: float, limit: int | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Scores of the *saved* checkpoint, through the same function the CLI uses."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..evaluate import evaluate_task

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    scores: dict[str, Any] = {}
    for name, task in toy_tasks(seed, world_size).items():
        res = evaluate_task(model, tokenizer, task, "test", limit=limit, seed=0)
        row = {"score": round(res.score, 4), "n": res.n, "seconds": res.seconds}
        if "letter_score" in res.extra:
            row["letter_score"] = round(res.extra["letter_score"], 4)
        scores[name] = row
        if progress:
            print(f"  {path.name} {name}: {row}", flush=True)
    return scores


# ---- model card --------------------------------------------------------------------------------
def model_card(size: Size, n_params: int, log: dict[str, Any], scores: dict[str, Any],
               others: dict[str, dict[str, Any]], build: dict[str, Any]) -> str:
    lines = [f"# {size.name}", "",
             "A tiny Llama-architecture model trained from scratch by `python -m pkt_core zoo build`",
             "on PKT Lab's seeded toy world (pkt_core/tasks/toyworld/). Part of the embedded",
             "family: every size saw the same tokens in the same order; only scale differs.", "",
             "| | |", "|---|---|",
             f"| architecture | LlamaForCausalLM, {size.layers} layers × {size.hidden} wide, FFN "
             f"{size.ffn}, {size.heads} heads, vocab {build['vocab']}, context 512 |",
             f"| parameters | {n_params:,} |",
             f"| training tokens | {log['tokens']:,} ({log['steps']} steps × {BATCH} × {SEQ_LEN}) |",
             f"| optimiser | AdamW (0.9, 0.95), wd 0.1, peak LR {size.lr}, 3% warm-up, cosine to "
             f"10%, bf16 autocast |",
             f"| wall time | {log['seconds'] / 60:.1f} min on a 2-core CPU (threads: {build['threads']}) "
             f"({log['tokens_per_s']:,} tokens/s) |",
             "| weights | bfloat16 safetensors (load as fp32 on CPU) |",
             f"| seed | world {build['seed']}, world_size {build['world_size']} |"]
    if size.init_offset:
        lines.append(f"| initialisation | seed + {size.init_offset}: the same tokens in the same "
                     "order as its same-shape sibling, from another random start |")
    if build.get("build_seconds"):
        lines.append(f"| whole family build (`zoo build`: corpus, tokenizer, every size, scoring) | "
                     f"{build['build_seconds'] / 60:.1f} min |")
    corpus = build.get("corpus")
    if corpus:
        share = ", ".join(f"{k} {100 * v:.0f}%" for k, v in corpus["token_share"].items())
        mentions = ", ".join(f"{k} {m['mean']} ({m['min']}-{m['max']})"
                             for k, m in corpus["prose_mentions_per_fact"].items())
        lines += [f"| corpus tokens by source | {share} |",
                  f"| prose mentions per fact: mean (min-max) | {mentions} |"]
    lines += ["",
             "## Loss (mean training loss near each point of training)", "",
             f"start {log['loss_first']} → " + ", ".join(f"{k}: {v}" for k, v in log["loss_curve"].items()),
             "", "## Test scores (saved bf16 checkpoint, `pkt_core.evaluate.evaluate_task`)", "",
             "| task | kind | " + " | ".join(others) + " |",
             "|---|---|" + "---|" * len(others)]
    kinds = {"facts": "4-way choice, by option likelihood (chance 25%)", "arith": "#### number",
             "complete": "pass@1 (body)", "write": "pass@1 (function)"}
    for task in TOY_TASKS:
        cells = []
        for sc in others.values():
            row = sc.get(task, {})
            cell = f"{100 * row['score']:.1f}" if "score" in row else "–"
            if "letter_score" in row:
                cell += f" (letter {100 * row['letter_score']:.1f})"
            cells.append(cell)
        lines.append(f"| {task} | {kinds[task]} | " + " | ".join(cells) + " |")
    lines += ["", f"Reproduce one number: `python -m pkt_core evaluate --model {size.name} "
              "--task facts --split test`.", "", "## Notes", ""]
    lines += [f"- {note}" for note in build.get("notes", [])]
    if build.get("history"):
        lines += ["", "## Build history", "",
                  "From the lab notebook: the family's builds, oldest first, and what each "
                  "showed (scores in %).", ""]
        lines += [f"- {entry}" for entry in build["history"]]
    return "\n".join(lines) + "\n"


# ---- the whole build -----------------------------------------------------------------------------
# What the current design and build rest on (every card's "Notes"). The history of earlier builds
# lives in build_results.json's "history" and the cards' "Build history"; a rebuild keeps it.
NOTES = [
    "Design (session 3): `facts` needs knowledge, `arith` and the code tasks need skill. 2,000 "
    "facts (200 countries x 4, 600 people x 2) at log-uniform popularity over a 5x range: "
    "15-75 prose mentions each at 8M tokens (mean 38). Test facts are never asked in the corpus' "
    "question-and-answer text. Arith: 1-3 wares at 2-digit prices, a sum and maybe change (1-6 "
    "worked steps with carries). Code: a chain of 2-4 list operations with constants, described "
    "in words, one line each. Test arith problems (their numbers) and test programs (their chains "
    "of operations) never occur in the corpus. Difficulty is spread over lengths so that a "
    "per-step edge of the larger model compounds.",
    "Compute: each size trains with 2 threads, one after the other, on an otherwise idle "
    "2-core machine (a 2-minute, one-thread diagnostic ran beside the teacher once).",
    "Newlines are single tokens: with `\\n` + indentation merged, a prompt ending in "
    "`<|assistant|>\\n` never continued into an indented body and `complete` scored 0.",
    "Multiple choice is scored by option likelihood; the generated letter stays at chance for "
    "models this small (25-26% in every build; the prototype saw the same).",
]


def write_cards(out: Path, build: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    """scores.json and README.md for every built size (each card compares the whole family)."""
    all_scores = {name: r["scores"] for name, r in results.items()}
    for name, r in results.items():
        path = out / name
        (path / "scores.json").write_text(json.dumps(
            {"model": name, "split": "test", "seed": build["seed"],
             "world_size": build["world_size"], "params": r["params"],
             "training_tokens": r["train"]["tokens"], "train_seconds": r["train"]["seconds"],
             "scores": r["scores"]}, indent=2) + "\n")
        (path / "README.md").write_text(model_card(Size(**r["size"]), r["params"], r["train"],
                                                   r["scores"], all_scores, build))


def _previous_history(out: Path) -> list[str]:
    """The "Build history" entries of the build already in `out`, if any (a rebuild keeps them)."""
    saved = out / "build_results.json"
    if not saved.is_file():
        return []
    return list(json.loads(saved.read_text())["build"].get("history", []))


_MICRO_SHAPES = {"student": (1, 32, 64, 2), "sibling": (1, 32, 64, 2), "middle": (1, 40, 80, 2),
                 "teacher": (2, 48, 96, 2)}


def _micro_size(key: str) -> Size:
    layers, hidden, ffn, heads = _MICRO_SHAPES[key]
    return Size(f"pkt-micro-{key}", layers, hidden, ffn, heads, 3e-3, FAMILY[key].init_offset)


def _train_and_score(key: str, micro: bool, out: str, work: str, seed: int, world_size: float,
                     eval_limit: int | None, threads: int, progress: bool) -> dict[str, Any]:
    """One size: train on the shared token file, save, reload and score (a worker process)."""
    from transformers import AutoTokenizer

    torch.set_num_threads(threads)
    size = _micro_size(key) if micro else FAMILY[key]
    tokenizer = AutoTokenizer.from_pretrained(work)
    data = torch.load(Path(work) / "tokens.pt")
    model, log = train_model(size, tokenizer, data, seed, progress)
    n_params = sum(p.numel() for p in model.parameters())
    path = Path(out) / size.name
    save_model(model, tokenizer, path)
    del model
    scores = evaluate_saved(path, seed, world_size, eval_limit, progress)
    return {"size": asdict(size), "params": n_params, "train": log, "scores": scores}


def _shown_path(path: Path) -> str:
    """A path as the summary records it: relative to the repository when inside it (committed
    files carry no machine paths)."""
    return paths.shown(path)


def build_zoo(out_dir: str | Path | None = None, *, seed: int = 0, tokens: int | None = None,
              sizes: tuple[str, ...] = tuple(FAMILY), micro: bool = False,
              world_size: float | None = None, progress: bool = True,
              eval_limit: int | None = None, parallel: bool = False) -> dict[str, Any]:
    """Build tokenizer + family into `out_dir` (default assets/models); returns a summary dict.

    parallel: train the sizes at once in separate single-threaded processes. On a 2-core machine
    shared with other jobs this beats one 2-thread process per size (a multi-threaded matmul stalls
    whenever another program holds a core; a single thread just gets a fair share); on an idle
    machine, one size after another with all threads is faster (the default).
    """
    import multiprocessing as mp
    import shutil
    import tempfile

    out = Path(out_dir) if out_dir else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    history = _previous_history(out)  # read first: a malformed file fails before any training
    world_size = world_size if world_size is not None else (0.05 if micro else 1.0)
    tokens = tokens or (20_000 if micro else DEFAULT_TOKENS)
    started = time.perf_counter()

    # Tokenizer from a sample of the corpus (another stream than training; the corpus builder
    # never emits test items, so neither contains them).
    sample = corpus_documents(seed, world_size, stream_seed=0)
    texts = [next(sample) for _ in range(2000 if micro else 30000)]
    tokenizer = train_tokenizer(texts, vocab_size=600 if micro else 3000)
    data = token_stream(tokenizer, seed, world_size, tokens)
    if progress:
        print(f"tokenizer: {len(tokenizer)} tokens; corpus: {len(data) - 1:,} tokens "
              f"({time.perf_counter() - started:.0f}s)", flush=True)
    work = tempfile.mkdtemp(prefix="pkt-zoo-")
    try:
        tokenizer.save_pretrained(work)
        torch.save(data, Path(work) / "tokens.pt")
        jobs = [(key, micro, str(out), work, seed, world_size,
                 8 if micro else eval_limit, 1 if parallel else 2, progress) for key in sizes]
        if parallel:
            with mp.get_context("spawn").Pool(len(jobs)) as pool:
                done = pool.starmap(_train_and_score, jobs)
        else:
            done = [_train_and_score(*job) for job in jobs]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {r["size"]["name"]: r for r in done}
    build = {"seed": seed, "world_size": world_size, "vocab": len(tokenizer),
             "corpus": corpus_stats(tokenizer, tokens, seed, world_size, 2000 if micro else 20000),
             "threads": "1 per model, sizes in parallel" if parallel else 2, "notes": NOTES,
             "history": history, "python": platform.python_version(), "torch": torch.__version__,
             "build_seconds": round(time.perf_counter() - started, 1)}
    return _write_family(out, tokens, build, results)


def _write_family(out: Path, tokens: int, build: dict[str, Any],
                  results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every card and scores.json, build_summary.json and build_results.json; the summary."""
    write_cards(out, build, results)
    summary = {"out": _shown_path(out), "tokens": tokens, "seconds": build["build_seconds"],
               "models": {n: {"params": r["params"], "train_seconds": r["train"]["seconds"],
                              "scores": {t: s["score"] for t, s in r["scores"].items()}}
                          for n, r in results.items()}}
    (out / "build_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "build_results.json").write_text(json.dumps({"build": build, "results": results},
                                                       indent=2) + "\n")
    return summary


def add_members(built: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Adopt the members another `zoo build --sizes …` run trained (same seed, world, tokens and
    tokenizer, checked) into the family at `out`: their folders are copied, build_results.json is
    merged, every card is rewritten and the family's build time is the sum of both runs."""
    import shutil

    built, out = Path(built), Path(out) if out else DEFAULT_OUT
    new, old = (json.loads((d / "build_results.json").read_text()) for d in (built, out))
    for key in ("seed", "world_size", "vocab", "corpus"):
        if new["build"].get(key) != old["build"].get(key):
            raise ValueError(f"the two builds differ in {key}: not the same token stream")
    tokenizers = {(d / name / "tokenizer.json").read_bytes()
                  for d, res in ((built, new), (out, old)) for name in res["results"]}
    if len(tokenizers) != 1:
        raise ValueError("the two builds trained different tokenizers")
    for name in new["results"]:
        shutil.rmtree(out / name, ignore_errors=True)
        shutil.copytree(built / name, out / name)
    build = {**old["build"], "build_seconds": round(old["build"]["build_seconds"]
                                                   + new["build"]["build_seconds"], 1)}
    tokens = json.loads((out / "build_summary.json").read_text())["tokens"]
    return _write_family(out, tokens, build, {**old["results"], **new["results"]})
