"""Transfer paradigms: one module per method behind the interface in base.py."""
from .base import (PARADIGMS, CurveKnob, Paradigm, ParadigmConfig, TransferCancelled,
                   TransferError, check_pair_for, compared_paradigms, curve_paradigms,
                   default_paradigm, get_paradigm, paradigm_names, register)
from .settings import SettingSpec, coerce, setting, settings_of

__all__ = ["PARADIGMS", "CurveKnob", "Paradigm", "compared_paradigms", "curve_paradigms",
           "default_paradigm", "ParadigmConfig", "SettingSpec", "TransferCancelled",
           "TransferError", "check_pair_for", "coerce", "get_paradigm", "paradigm_names",
           "register", "setting", "settings_of"]
