"""Transfer paradigms: one module per method behind the interface in base.py."""
from .base import (PARADIGMS, Paradigm, ParadigmConfig, TransferCancelled, TransferError,
                   check_pair_for, get_paradigm, paradigm_names, register)
from .settings import SettingSpec, coerce, setting, settings_of

__all__ = ["PARADIGMS", "Paradigm", "ParadigmConfig", "SettingSpec", "TransferCancelled",
           "TransferError", "check_pair_for", "coerce", "get_paradigm", "paradigm_names",
           "register", "setting", "settings_of"]
