"""Naming, loading and describing models; the architecture table."""
from .architectures import (ARCHITECTURES, ArchSpec, ModelShape, UnsupportedArchitecture,
                            arch_for_config, block_part, decoder_layers, shape_of,
                            supported_families)
from .loading import (PRESET_PAIRS, IncompatiblePair, LoadedModel, LoadedPair, ModelNotAvailable,
                      ModelRef, PairReport, check_pair, embedded_models, embedded_role,
                      inspect_model, load_model, load_pair, placement_kwargs, resolve_ref)

__all__ = ["ARCHITECTURES", "ArchSpec", "ModelShape", "UnsupportedArchitecture", "arch_for_config",
           "block_part", "decoder_layers", "shape_of", "supported_families", "PRESET_PAIRS",
           "IncompatiblePair", "LoadedModel", "LoadedPair", "ModelNotAvailable", "ModelRef",
           "PairReport", "check_pair", "embedded_models", "embedded_role", "inspect_model",
           "load_model", "load_pair", "placement_kwargs", "resolve_ref"]
