"""Naming, loading and describing models; the architecture table."""
from .architectures import (ARCHITECTURES, ArchSpec, ModelShape, UnsupportedArchitecture,
                            arch_for_config, block_part, decoder_layers, shape_of,
                            supported_families)
from .loading import (PRESET_PAIRS, LoadedModel, ModelNotAvailable,
                      ModelRef, PairReport, check_pair, embedded_models, embedded_role,
                      inspect_model, load_model, placement_kwargs, same_tokenizer, resolve_ref,
                      tokenizers_match)

__all__ = ["ARCHITECTURES", "ArchSpec", "ModelShape", "UnsupportedArchitecture", "arch_for_config",
           "block_part", "decoder_layers", "shape_of", "supported_families", "PRESET_PAIRS",
           "LoadedModel", "ModelNotAvailable", "ModelRef",
           "PairReport", "check_pair", "embedded_models", "embedded_role", "inspect_model",
           "load_model", "placement_kwargs", "same_tokenizer", "resolve_ref", "tokenizers_match"]
