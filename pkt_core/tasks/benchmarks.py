"""The four real benchmarks the research reports: MMLU, GSM8K, HumanEval and MBPP.

Each is loaded with `datasets.load_dataset`, either from its usual hub id or from a local JSON/JSONL
file or directory written in the benchmark's own schema (so the lab runs offline on copies). The
rows are turned into `Example`s whose user turn follows the research's prompt style; each task
scores in its own way (letter choice, final number, or running code in `pkt_core.sandbox`).

`datasets` is imported inside the loader only: building the registry must not pay for it.
"""
from __future__ import annotations

import os
import re
from abc import abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import register_task
from .base import (Example, ItemScore, Task, TaskError, extract_code, extract_final_number,
                   normalise_text)

_JSON_SUFFIXES = (".json", ".jsonl")
_TRUE = {"1", "true", "yes", "on"}

# One loaded row: the split it came from (None when a single file's row names none), its index
# within that split, and the row itself.
Row = tuple[str | None, int, dict[str, Any]]


# ---- loading --------------------------------------------------------------------------------

def _offline_requested() -> bool:
    return any(os.environ.get(var, "").strip().lower() in _TRUE
               for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


@contextmanager
def _offline_flags(offline: bool) -> Iterator[None]:
    """Make `datasets` and `huggingface_hub` honour an offline request made after their import.

    Both read the environment once, at import; if a caller (a test, the app) sets HF_HUB_OFFLINE
    later, the libraries would still try the network and retry for half a minute before failing.
    The flags are restored afterwards so nothing else in the process is affected.
    """
    if not offline:
        yield
        return
    import datasets.config as ds_config
    import huggingface_hub.constants as hub_constants
    saved = (ds_config.HF_HUB_OFFLINE, ds_config.HF_DATASETS_OFFLINE, hub_constants.HF_HUB_OFFLINE)
    ds_config.HF_HUB_OFFLINE = ds_config.HF_DATASETS_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        (ds_config.HF_HUB_OFFLINE, ds_config.HF_DATASETS_OFFLINE,
         hub_constants.HF_HUB_OFFLINE) = saved


def _looks_like_path(source: str) -> bool:
    """Whether a source that does not exist was meant as a file path rather than a hub id."""
    return (source.endswith(_JSON_SUFFIXES) or source.startswith((".", "/", "~"))
            or source.count("/") > 1 or "\\" in source)


def _rows_of(dataset_dict: Any, split_from_name: bool) -> list[Row]:
    rows: list[Row] = []
    for split_name, dataset in dataset_dict.items():
        for index, row in enumerate(dataset):
            if split_from_name:
                split = str(split_name)
            else:  # a single file: each row may carry its own split
                split = row.get("split") or None
            rows.append((split, index, dict(row)))
    return rows


def load_rows(source: str, hub_config: str | None, benchmark: str) -> list[Row]:
    """All rows of a benchmark from a hub id, a local JSON/JSONL file, or a directory of them.

    A directory's files are named after their split (`test.jsonl`, `train.jsonl`, ...). Failures
    become one readable `TaskError`, never a traceback from inside `datasets`.
    """
    path = Path(source).expanduser()
    if path.exists():
        return _load_local(path, benchmark)
    if _looks_like_path(source):
        raise TaskError(f"{benchmark}: no such file or directory: {source}")
    return _load_hub(source, hub_config, benchmark)


def _load_local(path: Path, benchmark: str) -> list[Row]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _JSON_SUFFIXES)
        if not files:
            raise TaskError(f"{benchmark}: {path} holds no .json or .jsonl files")
        data_files: dict[str, list[str]] = {}
        for file in files:
            # `test-00000-of-00001.jsonl` is a shard of `test`; datasets wants word-like names.
            split = re.split(r"[-.]", file.stem.lower(), maxsplit=1)[0]
            if not re.fullmatch(r"\w+", split):
                raise TaskError(f"{benchmark}: cannot tell the split of {file} from its name")
            data_files.setdefault(split, []).append(str(file))
        split_from_name = True
    elif path.suffix in _JSON_SUFFIXES:
        data_files = {"train": [str(path)]}  # 'train' is only datasets' label for "the file"
        split_from_name = False
    else:
        raise TaskError(f"{benchmark}: {path} is not a .json or .jsonl file")
    import datasets
    try:
        loaded = datasets.load_dataset("json", data_files=data_files)
    except Exception as err:  # datasets raises many types; the user needs the file and the cause
        raise TaskError(f"{benchmark}: could not read {path} as JSON/JSONL ({err})") from err
    return _rows_of(loaded, split_from_name)


def _load_hub(hub_id: str, hub_config: str | None, benchmark: str) -> list[Row]:
    offline = _offline_requested()
    import datasets
    try:
        with _offline_flags(offline):
            loaded = datasets.load_dataset(hub_id, hub_config)
    except Exception as err:
        if offline:
            raise TaskError(
                f"The {benchmark} dataset '{hub_id}' is not available offline (it is not in the "
                f"local Hugging Face cache); pass a local JSON/JSONL file or directory in the "
                f"{benchmark} schema as the source instead.") from err
        raise TaskError(
            f"The {benchmark} dataset '{hub_id}' could not be loaded ({type(err).__name__}: "
            f"{err}); pass a local JSON/JSONL file or directory in the {benchmark} schema as the "
            f"source instead.") from err
    return _rows_of(loaded, split_from_name=True)


def _field(row: dict[str, Any], name: str, where: str) -> Any:
    if name not in row or row[name] is None:
        raise TaskError(f"{where}: missing field '{name}'")
    return row[name]


def _text(value: Any) -> str:
    # MBPP's reference code uses Windows line endings; normalise so prompts and programs agree.
    return str(value).replace("\r\n", "\n")


# ---- the shared shape -----------------------------------------------------------------------

class BenchmarkTask(Task):
    """A benchmark read from a hub id or local files; subclasses turn one row into an Example."""

    hub_id: str = ""
    hub_config: str | None = None
    pin_test: bool = True  # whether the source's 'test' split is the test split
    skip_splits: frozenset[str] = frozenset()

    def __init__(self, source: str | None = None, config: str | None = None) -> None:
        self.source = source or self.hub_id
        # The usual config belongs to the usual hub id; another id gets only what is asked for.
        self.config = config if config is not None else (
            self.hub_config if self.source == self.hub_id else None)
        self._cache = None
        path = Path(self.source).expanduser()
        if not path.exists() and _looks_like_path(self.source):
            raise TaskError(f"{self.name}: no such file or directory: {self.source}")

    def load_examples(self) -> list[Example]:
        examples: list[Example] = []
        seen: set[str] = set()
        for split, index, row in load_rows(self.source, self.config, self.name):
            if split in self.skip_splits:
                continue
            where = f"{self.name} {self.source} [{split or 'file'} row {index}]"
            ex = self.make_example(row, split, index, where)
            if ex.id in seen:
                # Splits are chosen by id; a duplicate would land in two splits at once.
                raise TaskError(f"{where}: duplicate id '{ex.id}'")
            seen.add(ex.id)
            examples.append(ex)
        return examples

    def row_id(self, row: dict[str, Any], split: str | None, index: int) -> str:
        if row.get("id") is not None:
            return str(row["id"])
        return f"{self.name}-{split or 'pool'}-{index}"

    def source_split(self, split: str | None) -> str | None:
        return "test" if self.pin_test and split == "test" else None

    @abstractmethod
    def make_example(self, row: dict[str, Any], split: str | None, index: int,
                     where: str) -> Example:
        ...


# ---- MMLU -----------------------------------------------------------------------------------

_LETTERS = "ABCDEFGH"


def _answer_index(value: Any, n_choices: int, where: str) -> int:
    """MMLU stores the answer as 0-3; mirrors sometimes use the letter, accept both."""
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().isalpha():
        letter = value.strip().upper()
        if letter not in _LETTERS[:n_choices]:
            raise TaskError(f"{where}: answer {value!r} is not one of the {n_choices} options")
        return _LETTERS.index(letter)
    try:
        index = int(value)
    except (TypeError, ValueError):
        raise TaskError(f"{where}: answer {value!r} is neither an index nor a letter") from None
    if not 0 <= index < n_choices:
        raise TaskError(f"{where}: answer {index} is out of range for {n_choices} choices")
    return index


class MMLUTask(BenchmarkTask):
    name = "mmlu"
    kind = "choice"
    description = "MMLU: four-option multiple choice over 57 subjects (accuracy)."
    max_new_tokens = 8
    chance = 0.25
    hub_id = "cais/mmlu"
    hub_config = "all"
    # auxiliary_train is ~100k rows borrowed from other datasets (RACE, ARC, ...), not MMLU's
    # subjects; validation + dev already give ~1.8k in-distribution rows for extract/align/train.
    skip_splits = frozenset({"auxiliary_train"})

    def make_example(self, row: dict[str, Any], split: str | None, index: int,
                     where: str) -> Example:
        question = _text(_field(row, "question", where)).strip()
        choices = [_text(c).strip() for c in _field(row, "choices", where)]
        if not 2 <= len(choices) <= len(_LETTERS):
            raise TaskError(f"{where}: expected 2-{len(_LETTERS)} choices, got {len(choices)}")
        correct = _answer_index(_field(row, "answer", where), len(choices), where)
        subject = str(row.get("subject") or "").replace("_", " ").strip()
        options = [f"{_LETTERS[i]}. {choice}" for i, choice in enumerate(choices)]
        # The classic MMLU layout (question, lettered options, "Answer:") with the instruction in
        # the opening line, so a chat model knows a single letter is expected.
        about = f" about {subject}" if subject else ""
        prompt = (f"The following is a multiple choice question{about}. Answer with the letter "
                  f"of the correct option.\n\n{question}\n" + "\n".join(options) + "\nAnswer:")
        return Example(self.row_id(row, split, index), prompt, options[correct],
                       {"subject": subject, "choices": choices, "option_texts": options,
                        "correct": correct, "split": split},
                       self.source_split(split))

    def extract_letter(self, ex: Example, output: str) -> str:
        """The chosen letter: a leading letter, an 'answer is X', an option's text, else any.

        The plain 'first capital A-D' rule misreads "A good guess is C", so stronger cues go first.
        """
        letters = _LETTERS[:len(self.options(ex)) or 4]
        text = output.strip()
        patterns = (rf"^\(?([{letters}])(?:[.:)]|\s*$)",  # "B", "B.", "(B)", "B: ..."
                    rf"[Aa]nswer(?: is)?\s*[:=]?\s*\(?([{letters}])\b")
        for pattern in patterns:
            match = re.search(pattern, text, re.M)
            if match:
                return match.group(1)
        for i, choice in enumerate(ex.meta.get("choices", [])):
            if choice and normalise_text(text).startswith(normalise_text(choice)):
                return letters[i]
        for match in re.finditer(rf"\b([{letters}])\b", text):
            # "A" followed by a lower-case word is the article, not an option.
            if match.group(1) == "A" and re.match(r"\s+[a-z]", text[match.end():]):
                continue
            return match.group(1)
        return ""

    def score(self, ex: Example, output: str) -> ItemScore:
        got = self.extract_letter(ex, output)
        return ItemScore(got, got == _LETTERS[self.correct_option(ex)])


# ---- GSM8K ----------------------------------------------------------------------------------

class GSM8KTask(BenchmarkTask):
    name = "gsm8k"
    kind = "number"
    description = "GSM8K: grade-school word problems; the final number after '####' (accuracy)."
    max_new_tokens = 256
    hub_id = "openai/gsm8k"
    hub_config = "main"

    def make_example(self, row: dict[str, Any], split: str | None, index: int,
                     where: str) -> Example:
        question = _text(_field(row, "question", where)).strip()
        answer = _text(_field(row, "answer", where)).strip()
        final = extract_final_number(answer)
        if not final:
            raise TaskError(f"{where}: the answer has no final number ('#### N')")
        # The user turn is the bare question, as in the research's JSONL; the reference answers
        # (worked solution ending '#### N') teach the format that the scorer reads first.
        return Example(self.row_id(row, split, index), question, answer,
                       {"final": final, "split": split}, self.source_split(split))


# ---- code tasks -----------------------------------------------------------------------------

def _run(program: str, tests: str) -> ItemScore:
    try:
        from pkt_core.sandbox import run_program
    except ImportError as err:  # imported here: only code scoring needs the sandbox
        raise TaskError(f"code scoring needs pkt_core.sandbox ({err})") from err
    result = run_program(program, tests)
    return ItemScore(program, bool(result.passed), result.status, result.detail)


class HumanEvalTask(BenchmarkTask):
    name = "humaneval"
    kind = "code_complete"
    description = "HumanEval: complete a Python function from its signature and docstring (pass@1)."
    max_new_tokens = 256
    hub_id = "openai/openai_humaneval"
    # HumanEval ships only 'test', and the research draws extract/align examples from it too, so
    # nothing is pinned: make_splits carves the test split from the whole pool.
    pin_test = False

    def row_id(self, row: dict[str, Any], split: str | None, index: int) -> str:
        if row.get("task_id") is not None:
            return str(row["task_id"])
        return super().row_id(row, split, index)

    def make_example(self, row: dict[str, Any], split: str | None, index: int,
                     where: str) -> Example:
        code_prompt = _text(_field(row, "prompt", where))
        solution = _text(_field(row, "canonical_solution", where))
        test = _text(_field(row, "test", where))
        entry_point = str(_field(row, "entry_point", where)).strip()
        if not code_prompt.endswith("\n"):
            code_prompt += "\n"
        user = f"Complete the following Python function:\n```python\n{code_prompt}```"
        return Example(self.row_id(row, split, index), user, solution.rstrip(),
                       {"task_id": row.get("task_id"), "code_prompt": code_prompt, "test": test,
                        "entry_point": entry_point, "split": split},
                       self.source_split(split))

    def program(self, ex: Example, output: str) -> str:
        """The program to test: the original prompt followed by the model's code.

        A body-only completion continues the prompt's function. When the model restates the whole
        function (`def entry_point` appears), its definition follows the prompt and replaces the
        docstring-only stub, while the prompt's imports and helper functions stay available.
        """
        code = extract_code(output).strip("\n")
        entry_point = re.escape(ex.meta["entry_point"])
        if re.search(rf"^\s*(?:async\s+)?def\s+{entry_point}\s*\(", code, re.M):
            return f"{ex.meta['code_prompt']}\n\n{code}\n"
        return f"{ex.meta['code_prompt']}{code}\n"

    def score(self, ex: Example, output: str) -> ItemScore:
        tests = f"{ex.meta['test']}\ncheck({ex.meta['entry_point']})\n"
        return _run(self.program(ex, output), tests)


class MBPPTask(BenchmarkTask):
    name = "mbpp"
    kind = "code_write"
    description = "MBPP: write a short Python function from a description and its asserts (pass@1)."
    max_new_tokens = 256
    hub_id = "google-research-datasets/mbpp"
    hub_config = "full"

    def row_id(self, row: dict[str, Any], split: str | None, index: int) -> str:
        if row.get("task_id") is not None:
            return f"mbpp-{row['task_id']}"
        return super().row_id(row, split, index)

    def make_example(self, row: dict[str, Any], split: str | None, index: int,
                     where: str) -> Example:
        text = _text(_field(row, "text", where)).strip()
        code = _text(_field(row, "code", where)).strip("\n")
        test_list = [_text(t).strip() for t in _field(row, "test_list", where)]
        if not test_list:
            raise TaskError(f"{where}: test_list is empty")
        setup = _text(row.get("test_setup_code") or "").strip("\n")
        user = f"{text}\nYour code should pass these tests:\n" + "\n".join(test_list)
        return Example(self.row_id(row, split, index), user, code,
                       {"task_id": row.get("task_id"), "test_list": test_list,
                        "test_setup_code": setup,
                        "challenge_test_list": list(row.get("challenge_test_list") or []),
                        "split": split},
                       self.source_split(split))

    def program(self, ex: Example, output: str) -> str:
        code = extract_code(output).strip("\n")
        setup = ex.meta["test_setup_code"]
        return f"{setup}\n{code}\n" if setup else f"{code}\n"

    def score(self, ex: Example, output: str) -> ItemScore:
        return _run(self.program(ex, output), "\n".join(ex.meta["test_list"]) + "\n")


# ---- registry -------------------------------------------------------------------------------

@register_task("mmlu")
def make_mmlu(source: str | None = None, config: str | None = None) -> Task:
    """MMLU from `cais/mmlu` (config `all`) or a local JSON/JSONL file/directory."""
    return MMLUTask(source, config)


@register_task("gsm8k")
def make_gsm8k(source: str | None = None, config: str | None = None) -> Task:
    """GSM8K from `openai/gsm8k` (config `main`) or a local JSON/JSONL file/directory."""
    return GSM8KTask(source, config)


@register_task("humaneval")
def make_humaneval(source: str | None = None, config: str | None = None) -> Task:
    """HumanEval from `openai/openai_humaneval` or a local JSON/JSONL file/directory."""
    return HumanEvalTask(source, config)


@register_task("mbpp")
def make_mbpp(source: str | None = None, config: str | None = None) -> Task:
    """MBPP from `google-research-datasets/mbpp` (config `full`) or local JSON/JSONL."""
    return MBPPTask(source, config)
