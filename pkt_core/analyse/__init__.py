"""The neural-incompatibility analysis (docs/SCIENCE.md §6): how alike are a teacher and a student?

- `representation_similarity` (representation.py): a student-layer × teacher-layer similarity
  matrix per module (outputs of up/down/v/o_proj over the same texts), by linear CKA or by a
  signed metric (defined in that module's docstring).
- `parametric_similarity` (parametric.py): per student layer, the cosine between a LoRA product BA
  and the student's W and W − BA, for a PiSSA init and for a Seeking-style init taken from the
  teacher; `subblock_lora_init` there is Seeking's cut of one teacher matrix (docs/SCIENCE.md §4).
- `compare_layer_attribution` / `locate_stability` (layers.py): teacher vs student layer-score
  curves on a common relative-depth axis, and how stable the located neurons are between two
  examples.

Every name callers import from `pkt_core.analyse` is imported here, so they need not know the
modules. (No `__all__`: its strings would name a paradigm outside its module, which
tests/test_structure.py refuses.)
"""
from __future__ import annotations

from ..models.architectures import PROJECTIONS
from .common import ModelLike
from .layers import (LayerComparison, LayerPair, StabilityResult, compare_layer_attribution,
                     locate_stability, relative_depth)
from .parametric import (ParametricResult, SubblockLoRA, depth_layer_map, largest_subblock,
                         parametric_similarity, select_layers, subblock_lora_init, svd_lora_init)
from .representation import (METRICS, REPR_MODULES, SimilarityResult, linear_cka,
                             representation_similarity, signed_similarity)
