"""The command line, `pkt` or `python -m pkt_core` (entry point: pkt_core.__main__.main).

One module per group of commands, each with its `cmd_*` functions and the sub-parsers that
reach them: models (models, pair), evaluation (evaluate, generate), analysis (locate,
similarity), transfer (transfer, runs), experiments (reproduce, curve, ladder), zoo (build,
add-members, examples). common holds what they share; paradigm_flags turns the paradigms'
settings into flags; parser assembles them all.
"""
from __future__ import annotations

from .common import print_error, run_command
from .parser import build_parser

__all__ = ["build_parser", "print_error", "run_command"]
