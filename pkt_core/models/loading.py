"""Model references → loaded model + tokenizer; pair checks; device and dtype placement.

One string names a model everywhere (CLI, Python, UI):
- an embedded name (`pkt-tiny-student`, …: the family shipped under `assets/models/`),
- a local directory in Hugging Face format (or a PKT Lab run directory holding `model/`),
- a hub id (`owner/name`), loaded from the local cache or, when online, from the hub.
Offline, a hub id that is not cached fails at once with a message listing what is available.
"""
from __future__ import annotations

import os
import re
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from ..infra import paths, policy
from ..infra.runs import FINISHED, NOT_A_RUN, RunDir
from .architectures import ArchSpec, ModelShape, arch_for_config, shape_of
from .config_check import checked_shape
from .controls import shuffle_weights, split_control


def embedded_dir() -> Path:
    """Where the embedded family lives; PKT_EMBEDDED_DIR (read at call time) points the lab at
    another build, e.g. a micro build for tests (see `paths.embedded_dir`)."""
    return paths.embedded_dir()


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
# Files a causal LM needs from a hub snapshot (skips pytorch_model.bin duplicates, ONNX, GGUF…).
_HUB_PATTERNS = ["*.json", "*.safetensors", "tokenizer*", "*.model", "*.txt", "*.tiktoken"]


class ModelNotAvailable(ValueError):
    """The reference names nothing that can be loaded here (unknown, offline, missing)."""


@dataclass(frozen=True)
class ModelRef:
    text: str  # what the user typed
    kind: str  # 'embedded' | 'local' | 'run' | 'hub'
    path: Path | None = None  # for embedded/local/run
    hub_id: str | None = None
    shuffled: bool = False  # a control: `shuffled:REF` (see models.controls)


@dataclass(frozen=True)
class PresetPair:
    name: str
    teacher: str
    student: str
    note: str  # what it needs, in words


PRESET_PAIRS: tuple[PresetPair, ...] = (
    PresetPair("embedded tiny (teacher 8×256 → student 4×64)", "pkt-tiny-teacher",
               "pkt-tiny-student", "offline, CPU"),
    PresetPair("SmolLM2 360M → 135M", "HuggingFaceTB/SmolLM2-360M-Instruct",
               "HuggingFaceTB/SmolLM2-135M-Instruct", "needs network"),
    PresetPair("Qwen2.5 1.5B → 0.5B", "Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct",
               "needs network; GPU recommended"),
    PresetPair("Llama-2 13B → 7B chat (the paper's pair)", "meta-llama/Llama-2-13b-chat-hf",
               "meta-llama/Llama-2-7b-chat-hf", "needs network, a hub token and a GPU"),
)


def embedded_models() -> list[str]:
    root = embedded_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())


def embedded_role(name: str) -> str | None:
    for role in ("teacher", "student", "middle", "sibling"):
        if name.endswith(f"-{role}"):
            return role
    return None


def _hub_offline() -> bool:
    return any(os.environ.get(var, "").lower() in ("1", "true", "yes", "on")
               for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One quick TCP probe, so an offline machine fails in seconds, not after a minute of
    retries."""
    if _hub_offline():
        return False
    host = re.sub(r"^https?://", "", os.environ.get("HF_ENDPOINT", "huggingface.co")).split("/")[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def hub_cached_path(hub_id: str) -> Path | None:
    """The local snapshot of a hub model if its config is in the cache, else None."""
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(hub_id, "config.json")
    return Path(hit).parent if isinstance(hit, str) else None


def _available_hint() -> str:
    names = embedded_models()
    return f"Available offline: {', '.join(names) if names else '(no embedded models built yet)'}."


def resolve_ref(ref: str, limits: policy.Limits | None = None) -> ModelRef:
    """Classify a model reference without loading anything (`shuffled:REF` is REF's control).
    Under public limits only what they allow resolves (see `_public_ref`)."""
    shuffled, inner = split_control((ref or "").strip())
    lim = policy.given(limits)
    mref = _public_ref(inner, lim) if lim.public else _resolve_plain(inner)
    return replace(mref, text=(ref or "").strip(), shuffled=True) if shuffled else mref


def _resolve_plain(text: str) -> ModelRef:
    if not text:
        raise ModelNotAvailable(f"no model given. {_available_hint()}")
    if text in embedded_models():
        return ModelRef(text, "embedded", embedded_dir() / text)
    path = Path(text).expanduser()
    if path.is_dir():
        run = RunDir(path).model_ref()  # the one answer to "is it a run, with which model?"
        if run.state == FINISHED:
            return ModelRef(text, "run", run.model)
        if run.state != NOT_A_RUN:
            raise ModelNotAvailable(run.why_no_model(path))
        if (path / "config.json").is_file():
            return ModelRef(text, "local", path)
        raise ModelNotAvailable(f"'{text}' is a directory without a Hugging Face config.json")
    if path.parent != Path(".") and path.parent.is_dir():
        # `runs/does-not-exist` also reads as a hub id; with its folder here it is a path.
        raise ModelNotAvailable(f"no model directory '{text}': the folder '{path.parent}' exists "
                                f"but holds no '{path.name}'. {_available_hint()}")
    if _HUB_ID.match(text) and not text.startswith((".", "/", "~")):
        return ModelRef(text, "hub", hub_id=text)
    raise ModelNotAvailable(f"unknown model '{text}': not an embedded name, a local directory "
                            f"or a hub id (owner/name). {_available_hint()}")


def allowed_hub_ids(limits: policy.Limits | None = None) -> list[str]:
    """Hub ids a public lab may load: the preset pairs' and the limits' extra models
    (PKT_ALLOWED_MODELS)."""
    presets = [ref for pair in PRESET_PAIRS for ref in (pair.teacher, pair.student)]
    return list(dict.fromkeys(presets + list(policy.given(limits).extra_models)))


def _public_ref(text: str, limits: policy.Limits) -> ModelRef:
    """Public mode: an embedded name, an allow-listed hub id, a shipped example run or one of the
    visitor's own finished runs. Every other path gets the same sentence whether it exists or not,
    and nothing about it is read before the check."""
    if text in embedded_models():
        return ModelRef(text, "embedded", embedded_dir() / text)
    if text in allowed_hub_ids(limits):
        return ModelRef(text, "hub", hub_id=text)
    visible = policy.visible_run(text, limits)
    if visible is not None:
        run = RunDir(visible).model_ref()
        if run.state != FINISHED:
            raise ModelNotAvailable(run.why_no_model(visible))
        return ModelRef(text, "run", run.model)
    raise ModelNotAvailable(
        f"'{text}' cannot be loaded in this public lab: choose an embedded model, a listed hub "
        f"model ({', '.join(allowed_hub_ids(limits))}), a shipped example run or one of your own "
        f"runs")


def ref_availability(ref: ModelRef) -> str:
    """'embedded' | 'local' | 'cached locally' | 'needs network'."""
    if ref.kind != "hub":
        return ref.kind
    return "cached locally" if hub_cached_path(ref.hub_id or "") else "needs network"


def local_path(ref: ModelRef) -> Path:
    """A directory holding the model's files, downloading a hub snapshot only when online.
    `load_model` checks the config (`checked_config`) before it calls this, so a 405B id never
    starts a weight download."""
    if ref.path is not None:
        return ref.path
    hub_id = ref.hub_id or ""
    cached = hub_cached_path(hub_id)
    if cached is not None and any(cached.glob("*.safetensors")):
        return cached
    if not _hub_reachable():
        raise ModelNotAvailable(f"'{hub_id}' is not available offline (its weights are not in the "
                                f"local Hugging Face cache and the hub cannot be reached)")
    from huggingface_hub import snapshot_download
    try:
        return Path(snapshot_download(hub_id, allow_patterns=_HUB_PATTERNS))
    except Exception as err:  # gated, missing, or network dropped mid-way
        raise ModelNotAvailable(f"could not download '{hub_id}': {err}") from err


def _config_dir(ref: ModelRef) -> Path:
    """A directory holding the model's config.json; for a hub id only that one file is fetched."""
    if ref.path is not None:
        return ref.path
    hub_id = ref.hub_id or ""
    cached = hub_cached_path(hub_id)
    if cached is not None:
        return cached
    if not _hub_reachable():
        raise ModelNotAvailable(f"'{hub_id}' is not available offline (not in the local Hugging "
                                f"Face cache and the hub cannot be reached). {_available_hint()}")
    from huggingface_hub import hf_hub_download
    try:
        return Path(hf_hub_download(hub_id, "config.json")).parent
    except Exception as err:  # gated, missing, or network dropped mid-way
        raise ModelNotAvailable(f"could not read the config of '{hub_id}': {err}") from err


def checked_config(ref: ModelRef, trust_remote_code: bool = False,
                   limits: policy.Limits | None = None) -> tuple[Any, ModelShape]:
    """The model's config and its shape with the parameter count, refused (ConfigRefused) when
    absurd or, in public mode, over the cap; reads the config only (no lock, no weights)."""
    import_transformers()
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(_config_dir(ref), trust_remote_code=trust_remote_code)
    return config, checked_shape(config, ref.text, limits)


# ---- devices and dtypes ------------------------------------------------------------------------
def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> torch.dtype:
    """CUDA: bf16 where the GPU supports it, else fp16. CPU: fp32 (bf16 matmuls are slow there)."""
    if device.startswith("cuda"):
        if torch.cuda.is_available():
            index = torch.device(device).index or 0
            major, _ = torch.cuda.get_device_capability(index)
            return torch.bfloat16 if major >= 8 else torch.float16
        return torch.bfloat16  # decided again at load time; Ampere and newer support bf16
    return torch.float32


_DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
           "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


def parse_dtype(name: str | torch.dtype | None, device: str) -> torch.dtype:
    if name is None or name == "auto":
        return default_dtype(device)
    if isinstance(name, torch.dtype):
        return name
    if name not in _DTYPES:
        raise ValueError(f"unknown dtype '{name}'; choose one of auto, {', '.join(_DTYPES)}")
    return _DTYPES[name]


def placement_kwargs(device: str | None = None, dtype: str | torch.dtype | None = None,
                     shard: bool = False) -> dict[str, Any]:
    """from_pretrained keyword arguments for a device string ('cpu', 'cuda', 'cuda:1').

    `shard=True` lets accelerate spread a large model over all visible GPUs (device_map='auto').
    """
    device = device or default_device()
    if device.startswith("cuda") and not shard and ":" not in device:
        device = "cuda:0"
    if not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"unknown device '{device}'; use cpu, cuda or cuda:N")
    return {"dtype": parse_dtype(dtype, device),
            "device_map": "auto" if shard else {"": device}}


_TF32_LOCK = threading.Lock()
_tf32 = {"depth": 0, "previous": None}  # nesting across threads: the last one out restores


@contextmanager
def tf32_matmuls(device: torch.device) -> Iterator[None]:
    """fp32 matrix products on a CUDA `device` in TF32 (10-bit inputs, fp32 sums; ~7× fp32's rate
    on an H100/H200) inside the block; elsewhere nothing changes. For locate's input-independent
    products, whose inputs are bf16/fp16 weights already (the published code ran them in fp16).
    The switch is process-wide: other threads' fp32 CUDA products meanwhile use TF32 too; the
    setting before the first block is restored when the last one ends."""
    if device.type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul
    with _TF32_LOCK:
        if _tf32["depth"] == 0:
            _tf32["previous"], matmul.fp32_precision = matmul.fp32_precision, "tf32"
        _tf32["depth"] += 1
    try:
        yield
    finally:
        with _TF32_LOCK:
            _tf32["depth"] -= 1
            if _tf32["depth"] == 0:
                matmul.fp32_precision = _tf32["previous"]


# ---- loading -----------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    ref: ModelRef
    model: Any  # a transformers PreTrainedModel
    tokenizer: Any
    spec: ArchSpec
    shape: ModelShape

    @property
    def name(self) -> str:
        return self.ref.text

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


# transformers switches torch's process-wide default dtype while it builds a model (to the config's
# dtype: bf16 for the embedded family). A build in one thread would then make a computation in
# another create bf16 tensors ("Expected scalar type Float but found BFloat16"), so every build
# (from_config, from_pretrained) holds this one lock and asks for an explicit dtype.
BUILD_LOCK = threading.RLock()
_IMPORT_LOCK = threading.Lock()
_TRANSFORMERS_READY = threading.Event()


def import_transformers() -> None:
    """Import transformers' auto classes once, under a lock: its lazy module is not thread-safe,
    and two first requests at once could see it half-imported ("cannot import name …")."""
    if _TRANSFORMERS_READY.is_set():
        return
    with _IMPORT_LOCK:
        if not _TRANSFORMERS_READY.is_set():
            import transformers

            for name in ("AutoConfig", "AutoModelForCausalLM", "AutoTokenizer"):
                getattr(transformers, name)  # resolves the lazy attribute: imports its module
            _TRANSFORMERS_READY.set()


def inspect_model(ref: str | ModelRef, trust_remote_code: bool = False,
                  limits: policy.Limits | None = None) -> ModelShape:
    """The shape of a model from its config alone (fast: no weights are read or downloaded),
    checked against `limits` (see `policy.Limits`)."""
    mref = resolve_ref(ref, limits) if isinstance(ref, str) else ref
    return checked_config(mref, trust_remote_code, limits)[1]


def load_model(ref: str | ModelRef, device: str | None = None,
               dtype: str | torch.dtype | None = None, shard: bool = False,
               trust_remote_code: bool = False) -> LoadedModel:
    """Load a causal LM and its tokenizer by reference; refuse unsupported architectures early.

    Most callers want `models.provider.MODELS`, which keeps loaded models and loads each once."""
    import_transformers()
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    mref = resolve_ref(ref) if isinstance(ref, str) else ref
    checked_config(mref, trust_remote_code)  # refuse an absurd or over-cap model before its weights
    path = local_path(mref)
    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    spec = arch_for_config(config)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token_id is None:  # batched generation needs one; EOS is the usual choice
        tokenizer.pad_token = tokenizer.eos_token
    with BUILD_LOCK:
        model = AutoModelForCausalLM.from_pretrained(
            path, trust_remote_code=trust_remote_code, **placement_kwargs(device, dtype, shard))
    model.eval()
    if mref.shuffled:
        shuffle_weights(model)
    n_params = sum(p.numel() for p in model.parameters())
    return LoadedModel(mref, model, tokenizer, spec, shape_of(config, n_params))


# ---- pairs ---------------------------------------------------------------------------------------
@dataclass
class PairReport:
    teacher: ModelShape
    student: ModelShape
    same_tokenizer: bool
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def verdict(self) -> str:
        if self.ok:
            return "compatible" + (f" ({'; '.join(self.notes)})" if self.notes else "")
        return "incompatible: " + "; ".join(self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {"teacher": self.teacher.as_dict(), "student": self.student.as_dict(),
                "same_tokenizer": self.same_tokenizer, "ok": self.ok,
                "problems": self.problems, "notes": self.notes, "verdict": self.verdict()}


def check_pair(teacher: ModelShape, student: ModelShape, same_tokenizer: bool,
               paradigm: str | None = None,
               tokenizer_rules: Mapping[str, tuple[bool, str]] | None = None) -> PairReport:
    """Say plainly whether a (teacher, student) pair can be used, and for which paradigms.

    `tokenizer_rules` (paradigm → (copes with different tokenizers, why)) comes from the paradigm
    registry (`paradigms.check_pair_for` passes it); the models layer knows no paradigm names.
    """
    report = PairReport(teacher, student, same_tokenizer)
    if student.n_layers > teacher.n_layers:
        report.problems.append(f"the student is deeper than the teacher ({student.n_layers} > "
                               f"{teacher.n_layers} layers); PKT maps teacher layers onto "
                               "student layers")
    for what, s, t in (("hidden size", student.hidden, teacher.hidden),
                       ("FFN width", student.ffn, teacher.ffn)):
        if s > t:
            report.problems.append(f"the student is wider than the teacher ({what} {s} > {t})")
    if not same_tokenizer:
        _tokenizer_verdict(report, paradigm, tokenizer_rules or {})
    if teacher == student:
        report.notes.append("teacher and student have the same shape")
    return report


def _tokenizer_verdict(report: PairReport, paradigm: str | None,
                       rules: Mapping[str, tuple[bool, str]]) -> None:
    if paradigm is not None and paradigm in rules:
        copes, why = rules[paradigm]
        (report.notes if copes else report.problems).append(
            f"different tokenizers: {'allowed' if copes else 'not allowed'} for {paradigm} ({why})")
        return
    allowed = [p for p, (ok, _) in rules.items() if ok]
    refused = [p for p, (ok, _) in rules.items() if not ok]
    said = ([f"allowed for {', '.join(allowed)}"] * bool(allowed)
            + [f"not for {', '.join(refused)}"] * bool(refused))
    report.notes.append("different tokenizers" + (f": {'; '.join(said)}" if said else ""))


def same_tokenizer(tok_a: Any, tok_b: Any) -> bool:
    """Whether two tokenizers map every token to the same id (the one comparison in the lab)."""
    return tok_a.get_vocab() == tok_b.get_vocab()


def tokenizers_match(teacher: str, student: str, download: bool = False,
                     limits: policy.Limits | None = None) -> bool | None:
    """Whether two models share a vocabulary. Reads the tokenizer files only (never weights);
    without `download`, only files already here: None when either is not on this machine yet."""
    import_transformers()
    from transformers import AutoTokenizer

    sources: list[str | Path] = []
    for ref in (teacher, student):
        mref = resolve_ref(ref, limits)
        path = mref.path or (hub_cached_path(mref.hub_id) if mref.hub_id else None)
        if path is None and not (download and _hub_reachable()):
            return None
        sources.append(path or mref.hub_id or "")
    return same_tokenizer(*(AutoTokenizer.from_pretrained(src) for src in sources))


def embedded_pair() -> tuple[str, str] | None:
    """The embedded family's (teacher, student) when both are built."""
    roles = {embedded_role(name): name for name in embedded_models()}
    return (roles["teacher"], roles["student"]) if {"teacher", "student"} <= set(roles) else None
