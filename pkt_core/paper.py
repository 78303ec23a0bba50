"""The research's published numbers, written once (docs/SCIENCE.md §6 and §8).

Everything the lab shows "beside the paper" reads from here: the main table (Llama-2 chat 13B → 7B,
as re-reported by SemAlign), the representation-similarity means per module and the parametric
cosines. Nothing here is measured by PKT Lab.
"""
from __future__ import annotations

PAIR = "Llama-2 13B → 7B chat"

# The main table: test accuracy / pass@1 in % (docs/SCIENCE.md §8).
TABLE_COLUMNS: tuple[str, ...] = ("model", "MMLU", "GSM8K", "HumanEval", "MBPP")
TABLE: tuple[tuple[str, float, float, float, float], ...] = (
    ("7B (student)", 44.20, 16.07, 14.05, 17.80),
    ("13B (teacher)", 52.90, 20.55, 18.75, 19.20),
    ("Seeking (PostPKT)", 49.60, 28.23, 15.44, 20.60),
    ("LaTen (PrePKT)", 44.40, 20.47, 14.63, 18.20),
    ("SemAlign", 50.30, 19.21, 17.34, 18.78),
)

# Neural Incompatibility (Tan et al., ACL 2025): mean layer-by-layer representation similarity per
# module between the teacher and the student (docs/SCIENCE.md §6).
SIMILARITY_MEANS: dict[str, float] = {"up_proj": 0.691, "down_proj": 0.450, "v_proj": 0.479,
                                      "o_proj": 0.411}
SIMILARITY_SOURCE = (f"Tan et al. 2025, {PAIR}; their metric is not specified "
                     "(its values go negative, so it is not plain linear CKA)")

# Parametric similarity of a rank-r LoRA init BA to the student's weight W: (cos(BA, W),
# cos(BA, W − BA)) as the paper reports them, in words because it gives no exact values.
# Keyed as the analysis names its two starts (pkt_core.analyse): the student's own top-r SVD
# (PiSSA's init) and a piece cut from the teacher (Seeking's init).
PARAMETRIC_COSINES: dict[str, str] = {"own_top_r": "≈ 0.15 · ≈ 0", "teacher_piece": "≈ 0 · ≈ −0.12"}
