"""The whole command line: every command group's sub-commands under one parser."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .analysis import add_analysis_commands
from .evaluation import add_evaluation_commands
from .experiments import add_experiment_commands
from .models import add_model_commands
from .transfer import add_runs_commands, add_transfer_command
from .zoo import add_zoo_commands


def build_parser() -> argparse.ArgumentParser:
    """The `pkt` parser. Imports the paradigm modules (their settings become flags), so it fails
    when PKT_PARADIGMS names a bad one."""
    # Usage lines name the command as the user typed it: the console script or the module.
    prog = "pkt" if Path(sys.argv[0]).name == "pkt" else "python -m pkt_core"
    parser = argparse.ArgumentParser(prog=prog, description="PKT Lab: cross-scale parametric "
                                                            "knowledge transfer")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # The order here is the order `--help` lists the commands in.
    add_model_commands(sub)
    add_evaluation_commands(sub)
    add_analysis_commands(sub)
    add_transfer_command(sub)
    add_experiment_commands(sub)
    add_runs_commands(sub)
    add_zoo_commands(sub)
    return parser
