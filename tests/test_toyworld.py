"""The toy world: deterministic, disjoint splits, no test leakage, scorers agree with references."""
from __future__ import annotations

import hashlib
import itertools
import random

import pytest

from pkt_core.tasks.base import SPLIT_NAMES
from pkt_core.tasks.toyworld import (TOY_TASKS, CodeTask, ToyTask, corpus_documents, make_world,
                                     prose_sources, toy_tasks)


@pytest.fixture(scope="module")
def tasks():
    return toy_tasks(0)


def test_world_is_deterministic_and_seeded():
    a = make_world(0)
    make_world.cache_clear()
    b = make_world(0)
    assert a == b and a is not b
    assert make_world(1).countries != a.countries
    assert a.n_facts() >= 1500
    names = [c.name for c in a.countries] + [p.name for p in a.people]
    assert len(set(names)) == len(names)


def test_tasks_registered():
    from pkt_core.tasks import toyworld  # noqa: F401  (registers at import)
    from pkt_core.tasks import _FACTORIES

    for name in TOY_TASKS:
        task = _FACTORIES[name](seed=0)
        assert task.name == name


@pytest.mark.parametrize("name", TOY_TASKS)
def test_splits_disjoint_and_large_enough(tasks, name):
    task = tasks[name]
    splits = task.splits()
    assert len(splits["test"]) >= 300
    assert (len(splits["extract"]), len(splits["align"]), len(splits["train"])) == (20, 80, 1000)
    ids = [ex.id for split in SPLIT_NAMES for ex in splits[split]]
    assert len(ids) == len(set(ids))
    assert all(ex.source_split == "test" for ex in splits["test"])
    # Deterministic: a fresh task object gives the same test items.
    again = toy_tasks(0)[name].split("test")
    assert [e.prompt for e in again] == [e.prompt for e in splits["test"]]
    # Distinct problems: no two examples share a key.
    keys = [ex.meta["key"] for ex in task.examples()]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("name", TOY_TASKS)
def test_no_test_item_leaks_into_corpus(tasks, name):
    task = tasks[name]
    test = task.split("test")
    test_keys = {ex.meta["key"] for ex in test}
    test_prompts = {ex.prompt for ex in test}
    rng = random.Random(123)
    for key, text in itertools.islice(task.corpus_keyed(rng), 20000):
        assert key not in test_keys
        user = text.split("<|user|>\n", 1)[1].split("\n\n<|assistant|>", 1)[0]
        assert user not in test_prompts


def test_corpus_stream_never_contains_test_prompts(tasks):
    prompts = {ex.prompt for t in tasks.values() for ex in t.split("test")}
    docs = list(itertools.islice(corpus_documents(0, stream_seed=1), 30000))
    users = {d.split("<|user|>\n", 1)[1].split("\n\n<|assistant|>", 1)[0]
             for d in docs if d.startswith("<|user|>")}
    assert users and not users & prompts
    # Every source of the mix shows up, and prose states facts of test items too (knowledge
    # is in the corpus, only the test question is not).
    assert any(d.startswith("<|user|>\ndef solve") for d in docs)
    assert sum(not d.startswith("<|user|>") for d in docs) > 5000


def test_prose_states_facts():
    """A prose document states every attribute of its entity."""
    w = make_world(0)
    sources = prose_sources(w, random.Random(0))
    countries = list(itertools.islice(sources["countries"], 1000))
    people = list(itertools.islice(sources["people"], 3000))
    # The most famous entities: the ones surely drawn in a short sample.
    c, p = (max(entities, key=lambda e: e.fame) for entities in (w.countries, w.people))
    about_c = [d for d in countries if c.name in d]
    about_p = [d for d in people if p.name in d]
    assert about_c and about_p
    assert all(c.capital in d and c.language in d and c.currency in d and c.river in d
               for d in about_c)
    assert all(p.birthplace in d and p.profession in d for d in about_p)


def test_facts_scoring(tasks):
    task = tasks["facts"]
    for ex in task.split("test")[:50]:
        opts = task.options(ex)
        assert len(opts) == 4 and len(set(opts)) == 4
        assert opts[task.correct_option(ex)] == ex.answer
        assert task.score(ex, ex.answer).correct
        wrong = opts[(task.correct_option(ex) + 1) % 4]
        assert not task.score(ex, wrong).correct


def test_arith_scoring(tasks):
    task = tasks["arith"]
    for ex in task.split("test")[:50]:
        assert "####" in ex.answer
        assert task.score(ex, ex.answer).correct
        n = int(ex.answer.split("####")[1])
        assert not task.score(ex, f"#### {n + 1}").correct
        # The worked solution's steps are right.
        for step in ex.answer.split("\n")[0].split(". "):
            if "=" in step:
                lhs, rhs = step.rstrip(".").split("=")
                assert eval(lhs) == int(rhs)  # noqa: S307  (our own generated arithmetic)


@pytest.mark.parametrize("name", ["complete", "write"])
def test_code_references_pass_in_sandbox(tasks, name):
    from pkt_core import sandbox  # noqa: F401  (scoring runs there: broken fails, never skips)

    task = tasks[name]
    items = task.split("test")[:10] + task.split("train")[:10]
    for ex in items:
        verdict = task.score(ex, ex.answer)
        assert verdict.correct, (ex.prompt, ex.answer, verdict)
    ex = items[0]
    broken = ex.answer.replace("return", "return 1 +", 1) if name == "complete" else \
        ex.answer.replace("return xs", "return xs[1:]")
    assert not task.score(ex, broken).correct
    assert not task.score(ex, "").correct


def test_complete_program_restores_indentation(tasks):
    task = tasks["complete"]
    ex = task.split("test")[0]
    program = task.program(ex, ex.answer.lstrip())
    assert program == task.program(ex, ex.answer)


def test_arith_and_code_difficulty_is_spread():
    """Test problems span 1-6 arithmetic steps and 2-4 chained operations, so a score measures a
    stretch of the accuracy-vs-length curve rather than one point of it."""
    tasks = toy_tasks(0)
    steps = {ex.answer.split("\n")[0].count("=") for ex in tasks["arith"].split("test")}
    assert steps == {1, 2, 3, 4, 5, 6}
    for name in ("complete", "write"):
        lengths = {len(ex.meta["key"][0]) for ex in tasks[name].split("test")}
        assert lengths == {2, 3, 4}


def test_code_test_programs_are_new_compositions():
    """No test program's chain of operations (with its constants) is in the corpus, and the
    corpus still uses every operation the test programs use."""
    tasks = toy_tasks(0)
    test_chains = {ex.meta["key"][0] for name in ("complete", "write")
                   for ex in tasks[name].split("test")}
    assert len(test_chains) > 550  # hardly any chain is shared by the two tasks' test sets
    for name in ("complete", "write"):
        seen_ops = set()
        for key, _ in itertools.islice(tasks[name].corpus_keyed(random.Random(9)), 5000):
            assert key[0] not in test_chains
            seen_ops |= {op for op, _ in key[0]}
        assert {op for chain in test_chains for op, _ in chain} <= seen_ops


def test_popularity_spreads_mentions():
    """Entities are mentioned in proportion to their fame, which spans a 5x range."""
    w = make_world(0)
    fames = sorted(c.fame for c in w.countries)
    assert fames[0] >= 1.0 and fames[-1] <= 5.0 and fames[-1] / fames[0] > 4
    docs = list(itertools.islice(prose_sources(w, random.Random(2))["countries"], 10000))
    famous = max(w.countries, key=lambda c: c.fame)
    obscure = min(w.countries, key=lambda c: c.fame)
    # A country's capital appears only in that country's own documents.
    count = lambda c: sum(c.capital in d for d in docs)  # noqa: E731
    assert count(famous) > 2.5 * max(1, count(obscure))


def test_shipped_corpus_and_test_items_are_unchanged():
    """The shipped models were trained on this corpus and scored on these items: a change that
    moves one random draw of the toy world would silently make them stale."""
    corpus = hashlib.sha256()
    for doc in itertools.islice(corpus_documents(0, stream_seed=1), 3000):
        corpus.update(doc.encode() + b"\0")
    assert corpus.hexdigest() == \
        "b045877e61f7c2588d26d49e5f8a54c5bccfae4ab35f80eabbee1fc5555b1ed4"
    items = hashlib.sha256()
    for task in toy_tasks(0).values():
        for ex in task.split("test"):
            items.update(f"{ex.id}\0{ex.prompt}\0{ex.answer}\0".encode())
    assert items.hexdigest() == \
        "cb7f57a0a07d6a0f252e5570fbb483c568bdf45ea33b6007ed3dd63cf455ff14"


@pytest.mark.parametrize("abstract", [ToyTask, CodeTask])
def test_shared_task_bases_are_abstract(abstract):
    """A toy task must say how its corpus is drawn (and a code task how its program is built)."""
    with pytest.raises(TypeError, match="abstract"):
        abstract(0, 0.05)


def test_factories_register_under_the_package_name():
    from pkt_core.tasks import _FACTORIES, _origin

    for name in TOY_TASKS:
        assert _origin(_FACTORIES[name]) == f"pkt_core.tasks.toyworld.{name}_task"
