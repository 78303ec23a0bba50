"""The task contract: chat format, seeded disjoint splits, scorers, user JSONL."""
from __future__ import annotations

import json

import pytest

from pkt_core.tasks import Example, TaskError, get_task, make_splits, read_messages_jsonl, render_chat
from pkt_core.tasks.base import Task, cut_at_stop, extract_code, extract_final_number


def _examples(n: int, test: int = 0) -> list[Example]:
    return [Example(f"e{i}", f"q{i}", f"a{i}", source_split="test" if i < test else None)
            for i in range(n)]


def test_chat_format_is_the_researchs():
    assert render_chat("Hi") == "<|user|>\nHi\n\n<|assistant|>\n"
    assert render_chat("Hi", "Yo") == "<|user|>\nHi\n\n<|assistant|>\nYo\n\n"


def test_splits_are_disjoint_seeded_and_sized():
    exs = _examples(2000)
    a = make_splits(exs, seed=1, test_size=300)
    ids = [ex.id for split in a.values() for ex in split]
    assert len(ids) == len(set(ids))
    assert [len(a[s]) for s in ("extract", "align", "train", "test")] == [20, 80, 1000, 300]
    assert make_splits(exs, seed=1, test_size=300) == a
    assert make_splits(exs, seed=2, test_size=300)["extract"] != a["extract"]


def test_pinned_test_examples_form_the_test_split_and_small_data_runs_out_gracefully():
    splits = make_splits(_examples(60, test=10), seed=0)
    assert {ex.id for ex in splits["test"]} == {f"e{i}" for i in range(10)}
    assert len(splits["extract"]) == 20 and len(splits["align"]) == 30 and splits["train"] == []
    with pytest.raises(TaskError):
        make_splits(_examples(5), sizes={"extract": -1})


def test_number_extraction_follows_gsm8k():
    assert extract_final_number("so 3 + 4 = 7\n#### 7") == "7"
    assert extract_final_number("the answer is 1,234.") == "1234"
    assert extract_final_number("no number") == ""
    assert cut_at_stop("42\n\n<|user|>\nmore") == "42"
    assert extract_code("text\n```python\ndef f():\n    return 1\n```\nbye") == "def f():\n    return 1\n"


class _NumberTask(Task):
    name, kind = "toy-number", "number"

    def load_examples(self):
        return [Example("x", "2+2?", "2+2=4\n#### 4")]


def test_number_scorer():
    task = _NumberTask()
    ex = task.examples()[0]
    assert task.score(ex, "it is 2+2 = 4\n#### 4").correct
    assert not task.score(ex, "#### 5").correct


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_user_jsonl_directory_is_a_task_with_its_own_splits(tmp_path):
    for split, n in (("extract", 2), ("align", 3), ("train", 4), ("test", 5)):
        _write_jsonl(tmp_path / f"{split}.jsonl", [
            {"id": f"{split}-{i}", "messages": [{"role": "user", "content": f"Q{i}?"},
                                                {"role": "assistant", "content": f"A{i}"}]}
            for i in range(n)])
    task = get_task("jsonl", path=str(tmp_path))
    splits = task.splits()
    assert [len(splits[s]) for s in ("extract", "align", "train", "test")] == [2, 3, 4, 5]
    ex = splits["test"][0]
    assert task.prompt(ex) == "<|user|>\nQ0?\n\n<|assistant|>\n"
    assert task.score(ex, "a0.").correct and not task.score(ex, "A1").correct


def test_bad_jsonl_is_refused_readably(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "text": "no messages"}\n')
    with pytest.raises(TaskError, match="bad.jsonl:1: not a messages row"):
        read_messages_jsonl(tmp_path / "bad.jsonl")
    with pytest.raises(TaskError, match="lacks"):
        get_task("jsonl", path=str(tmp_path))
    with pytest.raises(TaskError, match="unknown task"):
        get_task("no-such-task")


def test_a_task_name_is_registered_once_but_a_reloaded_module_may_register_again(tmp_path,
                                                                                  monkeypatch):
    import importlib
    import sys

    from pkt_core import tasks

    assert "facts" in tasks.list_tasks()  # the task modules register into the real registry
    facts = tasks._FACTORIES["facts"]
    # From here on work on a copy of it.
    monkeypatch.setattr(tasks, "_FACTORIES", dict(tasks._FACTORIES))
    with pytest.raises(TaskError, match=r"task 'facts' is already registered by "
                                        r"pkt_core\.tasks\.toyworld\.facts_task"):
        tasks.register_task("facts")(lambda **_: None)
    assert tasks._FACTORIES["facts"] is facts

    (tmp_path / "pkt_probe_tasks.py").write_text(
        "from pkt_core.tasks import register_task\n"
        "from pkt_core.tasks.toyworld import FactsTask\n\n"
        "@register_task('probe')\n"
        "def probe_task(**_):\n"
        "    return FactsTask(0, 0.05)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = importlib.import_module("pkt_probe_tasks")
    first = tasks._FACTORIES["probe"]
    importlib.reload(probe)  # the same definitions run again: no error, the new one wins
    assert tasks._FACTORIES["probe"] is probe.probe_task is not first
    assert tasks.get_task("probe").name == "facts"
    with pytest.raises(TaskError,
                       match=r"'probe' is already registered by pkt_probe_tasks\.probe_task"):
        @tasks.register_task("probe")
        def probe_task(**_):  # same name, another module: refused
            raise AssertionError("never registered")
    assert tasks._FACTORIES["probe"] is probe.probe_task
    sys.modules.pop("pkt_probe_tasks", None)


def test_a_shipped_test_split_is_the_same_items_in_the_same_order_for_every_seed():
    """Seeds vary the training data, not what is scored: a limited evaluation of seed 2 scores
    the same items as seed 0's, so before/after scores pair item by item."""
    exs = _examples(60, test=10)
    tests = [[ex.id for ex in make_splits(exs, seed=s)["test"]] for s in (0, 1, 2)]
    assert tests[0] == tests[1] == tests[2] and len(tests[0]) == 10
    assert make_splits(exs, seed=1)["extract"] != make_splits(exs, seed=2)["extract"]
