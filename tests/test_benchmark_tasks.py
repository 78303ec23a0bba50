"""The four real benchmarks, loaded offline from small fixtures in their real schemas."""
from __future__ import annotations

import os

# Never touch the network: set before `datasets`/`huggingface_hub` are imported anywhere.
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from pkt_core.tasks import Example, Task, TaskError, get_task, list_tasks, render_chat

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
SOURCES = {
    "mmlu": FIXTURES / "mmlu.jsonl",  # one file, rows carry a "split" field
    "gsm8k": FIXTURES / "gsm8k",  # a directory: train.jsonl + test.jsonl
    "humaneval": FIXTURES / "humaneval.jsonl",
    "mbpp": FIXTURES / "mbpp.jsonl",
}
SMALL = {"extract": 2, "align": 2, "train": 2}


@pytest.fixture(autouse=True, scope="module")
def _private_datasets_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the json builder's arrow cache out of the user's ~/.cache."""
    import datasets.config
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf_ds")))
        yield


@pytest.fixture(scope="module")
def tasks(_private_datasets_cache: None) -> dict[str, Task]:
    return {name: get_task(name, source=str(path)) for name, path in SOURCES.items()}


def by_id(task: Task, prefix: str) -> Example:
    return next(ex for ex in task.examples() if ex.id.startswith(prefix))


# ---- loading and splits ---------------------------------------------------------------------

def test_registered() -> None:
    assert {"mmlu", "gsm8k", "humaneval", "mbpp"} <= set(list_tasks())


@pytest.mark.parametrize("name,count,kind", [("mmlu", 10, "choice"), ("gsm8k", 10, "number"),
                                             ("humaneval", 8, "code_complete"),
                                             ("mbpp", 9, "code_write")])
def test_loads_fixture(tasks: dict[str, Task], name: str, count: int, kind: str) -> None:
    task = tasks[name]
    assert task.name == name and task.kind == kind
    assert len(task.examples()) == count
    assert len({ex.id for ex in task.examples()}) == count
    assert task.max_new_tokens >= 8


def test_budgets(tasks: dict[str, Task]) -> None:
    assert tasks["mmlu"].max_new_tokens == 8 and tasks["mmlu"].chance == 0.25
    assert tasks["gsm8k"].max_new_tokens == 256
    assert tasks["humaneval"].max_new_tokens == tasks["mbpp"].max_new_tokens == 256


@pytest.mark.parametrize("name", list(SOURCES))
def test_splits_disjoint_and_seed_stable(tasks: dict[str, Task], name: str) -> None:
    task = tasks[name]
    splits = task.splits(seed=0, sizes=SMALL)
    ids = [ex.id for part in splits.values() for ex in part]
    assert len(ids) == len(set(ids)), "splits overlap"
    assert set(ids) <= {ex.id for ex in task.examples()}
    assert all(splits[part] for part in ("extract", "align", "test"))
    # Same seed, a freshly built task: the same ids in the same order.
    again = get_task(name, source=str(SOURCES[name])).splits(seed=0, sizes=SMALL)
    assert {k: [ex.id for ex in v] for k, v in again.items()} == \
           {k: [ex.id for ex in v] for k, v in splits.items()}
    # Other seeds choose other extract/align members (at least one of several differs).
    membership = {frozenset(ex.id for ex in splits["extract"] + splits["align"])}
    for seed in range(1, 6):
        other = task.splits(seed=seed, sizes=SMALL)
        membership.add(frozenset(ex.id for ex in other["extract"] + other["align"]))
    assert len(membership) > 1


@pytest.mark.parametrize("name,pinned", [("mmlu", 3), ("gsm8k", 3), ("mbpp", 3)])
def test_source_test_split_is_the_test_split(tasks: dict[str, Task], name: str,
                                             pinned: int) -> None:
    task = tasks[name]
    test = task.split("test", seed=7)
    assert len(test) == pinned
    assert all(ex.source_split == "test" and ex.meta["split"] == "test" for ex in test)
    rest = [ex for part in ("extract", "align", "train") for ex in task.split(part, seed=7)]
    assert all(ex.source_split is None for ex in rest)


def test_humaneval_is_not_pinned_and_test_is_carved(tasks: dict[str, Task]) -> None:
    task = tasks["humaneval"]
    assert all(ex.source_split is None for ex in task.examples())
    assert len(task.split("test", seed=0)) == 8 // 4
    assert len(task.split("test", seed=0, test_size=3)) == 3


def test_directory_shard_names_give_the_split(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (FIXTURES / "gsm8k" / "test.jsonl").open()]
    (tmp_path / "test-00000-of-00001.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "train.json").write_text(
        "".join(json.dumps(r) + "\n" for r in rows[:1]).replace("A train", "A bus"))
    task = get_task("gsm8k", source=str(tmp_path))
    assert len(task.split("test")) == len(rows)
    assert len(task.examples()) == len(rows) + 1


# ---- prompts --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SOURCES))
def test_prompt_is_chat_format(tasks: dict[str, Task], name: str) -> None:
    task = tasks[name]
    ex = task.examples()[0]
    prompt = task.prompt(ex)
    assert prompt == render_chat(ex.prompt)
    assert prompt.startswith("<|user|>\n") and prompt.endswith("\n\n<|assistant|>\n")
    assert task.full_text(ex) == f"{prompt}{ex.answer}\n\n"
    assert ex.answer.strip()


def test_mmlu_prompt_and_options(tasks: dict[str, Task]) -> None:
    task = tasks["mmlu"]
    ex = next(e for e in task.examples() if "capital city of France" in e.prompt)
    assert "A. Lyon\nB. Paris\nC. Marseille\nD. Nice\nAnswer:" in ex.prompt
    assert "high school geography" in ex.prompt
    assert ex.answer == "B. Paris"
    assert task.options(ex) == ["A. Lyon", "B. Paris", "C. Marseille", "D. Nice"]
    assert task.correct_option(ex) == 1


def test_code_prompts(tasks: dict[str, Task]) -> None:
    he = tasks["humaneval"].examples()[0]
    assert he.prompt.startswith("Complete the following Python function:\n```python\ndef add_pair")
    assert he.prompt.endswith('"""\n```')
    assert he.answer == "    return a + b"
    mb = next(e for e in tasks["mbpp"].examples() if e.id == "mbpp-601")
    assert mb.prompt.startswith("Write a function to find the largest of three numbers.\n")
    tests_block = "Your code should pass these tests:\nassert largest_of_three(1, 2, 3) == 3\n"
    assert tests_block in mb.prompt
    assert "\r" not in mb.answer  # MBPP's CRLF line endings are normalised


# ---- scoring --------------------------------------------------------------------------------

@pytest.mark.parametrize("output,expected", [
    ("B", "B"), ("B. Paris", "B"), (" (B)", "B"), ("The answer is B.", "B"), ("Answer: B", "B"),
    ("Paris", "B"), ("A good guess is B", "B"), ("C", "C"), ("A. Lyon", "A"), ("no idea", ""),
])
def test_mmlu_letter_extraction(tasks: dict[str, Task], output: str, expected: str) -> None:
    task = tasks["mmlu"]
    ex = next(e for e in task.examples() if "capital city of France" in e.prompt)
    result = task.score(ex, output)
    assert result.extracted == expected
    assert result.correct == (expected == "B")


def test_gsm8k_scoring(tasks: dict[str, Task]) -> None:
    task = tasks["gsm8k"]
    for ex in task.examples():
        assert task.score(ex, ex.answer).correct, ex.id
    ex = next(e for e in task.examples() if "60 miles per hour" in e.prompt)
    assert not task.score(ex, "It travels 60 * 3 = 190 miles.\n#### 190").correct
    assert task.score(ex, "60 times 3 is 180").correct  # no '####': the last number counts
    big = next(e for e in task.examples() if "250 dollars every month" in e.prompt)
    assert big.meta["final"] == "1250"
    assert task.score(big, "She saves 1,250 dollars.\n#### 1,250").correct
    assert task.score(big, "#### 1250").correct
    assert not task.score(big, "#### 1,205").correct
    assert task.score(big, "#### 1,205").extracted == "1205"


def test_humaneval_canonical_solutions_pass(tasks: dict[str, Task]) -> None:
    task = tasks["humaneval"]
    for ex in task.examples():
        result = task.score(ex, ex.answer)
        assert result.correct and result.status == "passed", (ex.id, result)
        assert result.extracted.startswith(ex.meta["code_prompt"])


def test_humaneval_wrong_and_restated(tasks: dict[str, Task]) -> None:
    task = tasks["humaneval"]
    ex = by_id(task, "HumanEval/0")  # add_pair
    wrong = task.score(ex, "    return a - b\n")
    assert not wrong.correct and wrong.status != "passed" and wrong.detail
    fenced = task.score(ex, "```python\n    return b + a\n```")
    assert fenced.correct
    # A restated function replaces the stub; the prompt's imports stay available (List).
    ex = by_id(task, "HumanEval/2")  # running_max
    restated = ("Here you go:\n```python\ndef running_max(numbers: List[int]) -> List[int]:\n"
                "    out, best = [], float('-inf')\n    for n in numbers:\n"
                "        best = max(best, n)\n        out.append(best)\n    return out\n```")
    assert task.score(ex, restated).correct
    # The prompt's helper functions are kept too.
    ex = by_id(task, "HumanEval/4")  # double_evens uses _is_even from the prompt
    assert task.score(ex, "    return [2 * n if _is_even(n) else n for n in numbers]").correct


def test_mbpp_scoring(tasks: dict[str, Task]) -> None:
    task = tasks["mbpp"]
    for ex in task.examples():
        result = task.score(ex, ex.answer)
        assert result.correct and result.status == "passed", (ex.id, result)
    ex = next(e for e in task.examples() if e.id == "mbpp-601")
    wrong = task.score(ex, "def largest_of_three(a, b, c):\n    return min(a, b, c)\n")
    assert not wrong.correct and wrong.status != "passed"
    fenced = task.score(ex, "Sure.\n```python\ndef largest_of_three(a, b, c):\n"
                            "    return sorted([a, b, c])[-1]\n```\nDone.")
    assert fenced.correct and "sorted" in fenced.extracted
    broken = task.score(ex, "def largest_of_three(a, b, c)\n    return a\n")
    assert not broken.correct
    # test_setup_code runs before the code (circle_area needs `math`).
    ex = next(e for e in task.examples() if e.id == "mbpp-603")
    assert ex.meta["test_setup_code"] == "import math"
    assert task.score(ex, "def circle_area(r):\n    return math.pi * r ** 2\n").correct


# ---- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SOURCES))
def test_offline_hub_id_fails_fast_and_readably(monkeypatch: pytest.MonkeyPatch,
                                                name: str) -> None:
    import datasets.config
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = datasets.config.HF_HUB_OFFLINE
    task = get_task(name, source="pkt-lab-tests/not-a-cached-dataset")
    start = time.monotonic()
    with pytest.raises(TaskError) as info:
        task.examples()
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "not available offline" in message and "JSON/JSONL" in message
    assert "\n" not in message
    assert datasets.config.HF_HUB_OFFLINE == before  # the library's flag is restored


def test_default_source_is_the_usual_hub_id() -> None:
    assert get_task("mmlu").source == "cais/mmlu" and get_task("mmlu").config == "all"
    assert get_task("gsm8k").config == "main" and get_task("mbpp").config == "full"
    assert get_task("humaneval").source == "openai/openai_humaneval"


def test_missing_local_path_is_a_task_error() -> None:
    with pytest.raises(TaskError, match="no such file"):
        get_task("gsm8k", source=str(FIXTURES / "nope.jsonl"))


def test_malformed_row_is_a_task_error(tmp_path: Path) -> None:
    bad = tmp_path / "mmlu.jsonl"
    bad.write_text(json.dumps({"question": "Q?", "subject": "x", "answer": 1}) + "\n")
    with pytest.raises(TaskError, match="missing field 'choices'"):
        get_task("mmlu", source=str(bad)).examples()
    bad.write_text(json.dumps({"question": "Q?", "choices": ["a", "b", "c", "d"],
                               "answer": 7}) + "\n")
    with pytest.raises(TaskError, match="out of range"):
        get_task("mmlu", source=str(bad)).examples()
