"""Transfer paradigms: one module per method behind the interface in base.py."""
from .base import PARADIGMS, Paradigm, ParadigmConfig, TransferError, get_paradigm

__all__ = ["PARADIGMS", "Paradigm", "ParadigmConfig", "TransferError", "get_paradigm"]
