"""What every command group shares: argument types, the flags many commands take (one help text
each), progress bars on stderr, JSON output and the one-line error a failing command prints."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any, Callable, Iterator

from tqdm import tqdm

MODEL = "embedded name (see `models`), local dir, run dir or hub id"
SPLITS = ["extract", "align", "train", "test"]
FLAG_HELP = {"--json": "print the result as JSON", "--teacher": f"the teacher: {MODEL}",
             "--student": f"the student: {MODEL}", "--device": "torch device, e.g. cpu or cuda:0 "
             "(default: cuda when there is one, else cpu)"}
# argparse's own exit status for a bad flag; a failing command exits with it too.
ERROR_EXIT = 2
INTERRUPTED_EXIT = 130


class ResultsAfterBars:
    """stdout while a command runs: each write first closes every open progress bar (on stderr) and
    flushes stderr, so in one stream (`2>&1`) all bar lines precede the results, however stdout is
    buffered, even a bar its owner never closed (the garbage collector would draw it last)."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def write(self, text: str) -> int:
        for bar in list(getattr(tqdm, "_instances", ())):  # shared by tqdm's subclasses
            bar.close()
        sys.stderr.flush()
        return self.out.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, fileno, …
        return getattr(self.out, name)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def print_progress(message: str) -> None:
    """A long command's progress message, on stderr so stdout holds only the result."""
    print(message, file=sys.stderr, flush=True)


def print_error(err: BaseException) -> int:
    """One readable line on stderr; the exit status of a failed command."""
    print(f"error: {err}", file=sys.stderr)
    return ERROR_EXIT


def int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: a whole number ≥ lo (argparse then prints one usage line, exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo} (got {value})")
        return value
    return parse


positive, non_negative = int_at_least(1), int_at_least(0)


def task_help(default: str | None = None) -> str:
    from ..tasks import list_tasks
    return f"one of {', '.join(list_tasks())}{f' (default {default})' if default else ''}"


def add_common_flags(parser: argparse.ArgumentParser, *names: str, **options: Any) -> None:
    """The flags many commands share, with one help text each (`--json` is a switch)."""
    for name in names:
        extra = {"action": "store_true"} if name == "--json" else {"default": None, **options}
        parser.add_argument(name, help=FLAG_HELP[name], **extra)


@contextlib.contextmanager
def tqdm_progress() -> Iterator[Callable[[int, int, str], None]]:
    """A progress callback drawing one bar per phase (of a transfer, …) on stderr; closed at
    exit."""
    bar: dict[str, Any] = {}

    def progress(done: int, total: int, message: str) -> None:
        if bar.get("total") != total or bar.get("bar") is None:
            close()
            bar["bar"], bar["total"] = tqdm(total=total, file=sys.stderr, leave=False), total
        bar["bar"].n = done
        bar["bar"].set_description(message[:60])
        bar["bar"].refresh()

    def close() -> None:
        if bar.get("bar") is not None:
            bar["bar"].close()
    try:
        yield progress
    finally:
        close()


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command: results after the bars, any failure as one line (with `--debug`,
    the traceback instead); its exit status."""
    try:
        with contextlib.redirect_stdout(ResultsAfterBars(sys.stdout)):
            return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    except Exception as err:  # one readable line; the traceback only when asked for
        if args.debug:
            raise
        return print_error(err)
