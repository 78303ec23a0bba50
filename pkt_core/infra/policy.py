"""Public mode: what an anonymous visitor of a public Space may do, written once for the app and
the CLI.

Public mode is on with `PKT_PUBLIC=1`, and by default where `SPACE_ID` is set (Hugging Face sets it
in every Space); `PKT_PUBLIC=0` turns it off there. In public mode:
* models: the embedded family, `shuffled:` controls of allowed models, the shipped example runs,
  runs made in the visitor's own session, and hub ids on an allow-list (the preset pairs plus
  `PKT_ALLOWED_MODELS`), each under a parameter cap read from its config before any weight is
  downloaded. A local path is refused with one message that never says whether it exists.
* every numeric setting has a public cap (`setting(public_hi=…)` on a paradigm's config,
  `LAB_CAPS` for the page's own inputs), a transfer whose estimated time is over the cap is refused
  up front, each session holds at most one running and one waiting heavy job, and uploads are off;
* disk is bounded: a paradigm may impose settings in public (`Paradigm.public_settings`, e.g.
  keeping only the last and best checkpoints), a session's runs are deleted some hours after it
  ends, and the runs folder has a size cap (oldest first).
Most checks live where the thing is done (`models.loading`, `paradigms.settings`, `lab`); this
module says what the limits are, who the current visitor is, and which runs that visitor may see
(`visible_run`).
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import paths

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

# The page's own numeric inputs (not paradigm settings): name → (local max, public cap).
LAB_CAPS: dict[str, tuple[int, int]] = {
    "eval_limit": (10_000, 50),  # test items scored before and after a transfer
    "quick_eval_items": (300, 30),
    "max_new_tokens": (1024, 128),
    "similarity_texts": (256, 32),
    "parametric_rank": (256, 32),
    "curve_points": (8, 4),
    "curve_seeds": (5, 2),
    "curve_items": (300, 50),
    "locate_top_k": (4096, 50),
}


def public_mode() -> bool:
    """True with PKT_PUBLIC=1, or on a Space (SPACE_ID set) unless PKT_PUBLIC=0."""
    flag = os.environ.get("PKT_PUBLIC", "").strip().lower()
    if flag in _TRUE:
        return True
    if flag in _FALSE:
        return False
    return bool(os.environ.get("SPACE_ID"))


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number (got {raw!r})") from None
    if not value > 0:
        raise ValueError(f"{name} must be positive (got {raw!r})")
    return value


def _memory_bytes() -> int:
    """The accelerator's memory where there is one, else the machine's RAM."""
    try:
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.get_device_properties(0).total_memory)
    except Exception:  # noqa: BLE001 — no usable CUDA: size for the CPU
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30  # the free CPU Space's size


def default_max_params() -> int:
    """Parameters one model may have: a pair must fit with room for gradients and activations,
    about 16 bytes per parameter in fp32 on a CPU and 8 in bf16 on a GPU (two models × 2 bytes ×
    weights, gradients of a LoRA's base pass, activations)."""
    try:
        import torch

        per_param = 8 if torch.cuda.is_available() else 16
    except ImportError:
        per_param = 16
    return _memory_bytes() // per_param


@dataclass(frozen=True)
class Limits:
    """What this lab allows. The edge (the app, the CLI) builds one — `Limits.from_environment()`
    or `LOCAL` — and passes it to the code that checks it: `transfer.prepare`,
    `models.resolve_ref`, `models.config_check.checked_shape`, `tasks.get_task` and
    `paradigms.coerce`. Code given none asks the environment (`given`), so a call that forgets to
    pass them on fails closed on a public Space instead of open."""
    public: bool = False
    max_params: int | None = None  # per model, read from its config before any download
    max_transfer_s: float | None = None  # a transfer estimated longer is refused
    run_ttl_hours: float = 6.0  # a visitor's runs are deleted this long after the session ends
    runs_max_mb: float = 2048.0  # the visitors' runs folder is pruned oldest first above this
    max_waiting_jobs: int = 16  # heavy jobs waiting across all sessions
    extra_models: tuple[str, ...] = ()  # hub ids allowed besides the presets

    @classmethod
    def public_from_environment(cls) -> "Limits":
        """A public lab's limits, each overridable by its PKT_* variable (read on each call:
        tests and operators change them)."""
        extra = tuple(m.strip() for m in os.environ.get("PKT_ALLOWED_MODELS", "").split(",")
                      if m.strip())
        return cls(
            public=True,
            max_params=int(_env_number("PKT_MAX_PARAMS", default_max_params())),
            max_transfer_s=_env_number("PKT_MAX_TRANSFER_MINUTES", 10.0) * 60,
            run_ttl_hours=_env_number("PKT_RUN_TTL_HOURS", 6.0),
            runs_max_mb=_env_number("PKT_RUNS_MAX_MB", 2048.0),
            max_waiting_jobs=int(_env_number("PKT_MAX_WAITING_JOBS", 16)),
            extra_models=extra)

    @classmethod
    def from_environment(cls) -> "Limits":
        """Public limits in public mode (`public_mode`), else the local lab's."""
        return cls.public_from_environment() if public_mode() else LOCAL

    def lab_cap(self, name: str) -> int:
        """The maximum of one of the page's own inputs (`LAB_CAPS`) under these limits."""
        local, public = LAB_CAPS[name]
        return public if self.public else local


LOCAL = Limits()  # a local lab: every model, setting range and task the code supports


def given(limits: Limits | None) -> Limits:
    """The limits a caller passed, else the environment's (see `Limits`)."""
    return limits if limits is not None else Limits.from_environment()


def public_summary(lim: Limits) -> str:
    """One line for the page: what a public lab with these limits allows."""
    return (f"🔒 Public mode: the embedded models, their `shuffled:` controls, the listed hub models "
            f"(≤ {lim.max_params / 1e9:.2g} B parameters), shipped example runs and your own runs; "
            f"transfers up to ~{lim.max_transfer_s / 60:.0f} min, one running and one waiting job "
            f"per visitor; your runs are deleted {lim.run_ttl_hours:g} h after you leave; no "
            f"uploads. Run it locally for everything else.")


# ---- who is asking ------------------------------------------------------------------------------
_SESSION: contextvars.ContextVar[str | None] = contextvars.ContextVar("pkt_session", default=None)


def session_tag(session: str) -> str:
    """The tag a visitor's runs carry on disk: a hash, so the raw session id is never written."""
    return hashlib.sha256(session.encode()).hexdigest()[:16]


@contextlib.contextmanager
def visitor(session: str | None) -> Iterator[None]:
    """Everything inside runs on behalf of this visitor session (None = the local user)."""
    token = _SESSION.set(session)
    try:
        yield
    finally:
        _SESSION.reset(token)


def current_session() -> str | None:
    return _SESSION.get()


# ---- which runs a visitor may see ------------------------------------------------------------------
def example_runs_root() -> Path:
    """Finished example runs shipped with the lab (read-only); see `paths.example_runs_dir`."""
    return paths.example_runs_dir()


def run_roots() -> list[Path]:
    """The folders runs may be read from: the visitors' runs and the shipped examples."""
    from .runs import default_runs_root

    return [default_runs_root().resolve(), example_runs_root().resolve()]


def visible_run(text: str, limits: Limits | None = None) -> Path | None:
    """The run directory `text` names (a path, or a name under a runs root) if the current visitor
    may use it, else None. Locally: any run under a runs root. In public mode: a shipped example,
    or a run under the visitors' root that this session made. Paths are resolved (symlinks and
    `..` followed) before the containment check, so nothing outside the roots is ever reached."""
    from .runs import NOT_A_RUN, RunDir, run_owner

    text = (text or "").strip()
    if not text or "\0" in text:
        return None
    visitors, examples = run_roots()
    for candidate in (Path(text), visitors / text, examples / text):
        try:
            path = candidate.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            continue
        # Containment first: nothing outside the roots is read, not even to ask whether it is a run.
        in_examples, in_visitors = paths.is_inside(path, examples), paths.is_inside(path, visitors)
        if not (in_examples or in_visitors) or RunDir(path).model_ref().state == NOT_A_RUN:
            continue
        if in_examples:
            return path
        session = current_session()  # a run under the visitors' root
        if not given(limits).public or (session is not None
                                        and run_owner(path) == session_tag(session)):
            return path
    return None
