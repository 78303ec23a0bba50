"""Command line: `python -m pkt_core <subcommand>` — one subcommand per public pkt_core function.

Errors print one readable line and exit non-zero; `--debug` shows the traceback instead. The
commands live in pkt_core.cli; this module is the entry point (`pkt` is `main` here).
"""
from __future__ import annotations

import os
import sys

from .cli import build_parser, print_error, run_command

# Set before torch loads (pkt_core.cli imports it only when a command runs): OpenMP's
# spin-waiting makes small matmuls 10–1000× slower on a busy 2-core machine (measured), and
# PKT Lab's embedded models are small.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (argparse itself exits 2 on a bad flag, 0 on --help)."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()  # imports the paradigm modules (PKT_PARADIGMS may name a bad one)
    except Exception as err:
        if debug:
            raise
        return print_error(err)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
