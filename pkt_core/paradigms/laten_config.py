"""LaTen's settings (docs/SCIENCE.md §3): what a run may set, with the research's defaults and
their checks. The algorithm is in laten.py, which re-exports LaTenConfig."""
from __future__ import annotations

from dataclasses import dataclass

from ..locate import ATTN_TERMS, SCALES
from .base import ParadigmConfig, TransferError
from .settings import setting

KEEP_CHECKPOINTS = ("all", "last-best")  # values of LaTenConfig.keep_checkpoints


@dataclass
class LaTenConfig(ParadigmConfig):
    transfer_rate: float = setting(0.1, "share r of the student's FFN / attention neurons moved "
                                   "per layer (⌊r·f_S⌋ and ⌊r·d_S⌋)", label="transfer rate",
                                   lo=0.01, hi=1.0, step=0.01)
    steps: int | None = setting(None, "alignment steps, one extract example each (unset: one per "
                                "extract example, 20)", label="steps", lo=1, hi=10_000,
                                public_hi=200)
    align_examples_per_step: int = setting(15, "align examples in each step's loss, beside the "
                                           "step's own", label="align examples per step", lo=0,
                                           hi=256, ui=False, public_hi=32)
    # The published launch script (train_LaTen.sh) passes 3e-4; train_LaTen.py's own default is
    # 3e-5. The research preset follows what the repository runs (docs/SCIENCE.md §3).
    lr: float = setting(3e-4, "hypernetwork learning rate (AdamW peak of torch's OneCycleLR)",
                        label="hypernetwork learning rate", lo=1e-8, hi=0.999)
    weight_decay: float = setting(0.05, "AdamW weight decay", label="weight decay", lo=0, hi=1,
                                  ui=False)
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_frac: float = setting(0.1, "OneCycleLR's pct_start: share of steps rising to the peak",
                                 label="warm-up share",
                                 lo=0.01, hi=1, ui=False)
    reg_weight: float = setting(1000.0, "weight of the mean squared delta in the loss",
                                label="regulariser weight", lo=0, ui=False, public_hi=1e6)
    init_std: float = setting(1e-5, "standard deviation of the hypernetwork's initial weights",
                              label="hypernetwork init std", lo=1e-12, hi=1, ui=False)
    max_len: int = setting(256, "tokens per example (truncated from the left)", label="max length",
                           lo=8, hi=8192, ui=False, public_hi=512)
    final_step: int | None = setting(None, "which step's hypernetwork to inject (unset: the last)",
                                     label="final step", lo=1, ui=False, public_hi=200)
    locate_scale: str = setting("sigma_sqrt", "logit-lens scale: sigma_sqrt or rms",
                                label="locate scale", ui=False, choices=SCALES)
    locate_attn_term: str = setting("self", "attention attribution term: self or summed",
                                    label="locate attention term", ui=False, choices=ATTN_TERMS)
    # A checkpoint is ~1.3 MB on the embedded pair and up to 10,000 steps are allowed: a shared
    # machine keeps two. Injection never reads them (final_step's choice is kept in memory).
    keep_checkpoints: str = setting("all", "checkpoints kept on disk: all (step-NNN, one per "
                                    "step) or last-best (last and best: the latest step's and "
                                    "the lowest-loss step's)", label="checkpoints kept", ui=False,
                                    choices=KEEP_CHECKPOINTS)

    def validate(self) -> None:
        super().validate()  # every declared range and choice
        last_step = self.steps or self.final_step
        if self.final_step is not None and not 1 <= self.final_step <= last_step:
            raise TransferError("final step must be between 1 and the number of steps")
        self.betas = tuple(self.betas)  # type: ignore[assignment]
