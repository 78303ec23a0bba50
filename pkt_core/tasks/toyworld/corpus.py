"""The pretraining corpus: an endless, seeded mix of prose and the four tasks' formats.

Every task's corpus stream leaves its test items out, so nothing scored is ever trained on.
"""
from __future__ import annotations

import random
from typing import Any, Iterator

from .family import toy_tasks
from .prose import PROSE_KINDS, prose_sources
from .world import World, make_world

# Share of documents (by count) per source, set from measured document lengths (see
# `corpus_stats`) so that at 8M tokens the prose states each fact about 38 times on average (15-75
# by popularity; 9% of the tokens), and the rest teach the formats: about 9% fact questions, 36%
# arith, 22% complete and 24% write.
CORPUS_MIX = {"countries": 0.07, "people": 0.21, "facts": 0.17,
              "arith": 0.27, "complete": 0.12, "write": 0.12}


def _sources(seed: int, world_size: float, rng: random.Random) -> dict[str, Iterator[str]]:
    """One endless document stream per corpus source, all drawing from `rng`."""
    tasks = toy_tasks(seed, world_size)
    sources = prose_sources(tasks["facts"].world, rng)
    sources.update({name: task.corpus_items(rng) for name, task in tasks.items()})
    return sources


def corpus_documents(seed: int = 0, world_size: float = 1.0, stream_seed: int = 0,
                     mix: dict[str, float] | None = None) -> Iterator[str]:
    """An endless, seeded stream of training documents (each without the EOS token)."""
    mix = mix or CORPUS_MIX
    rng = random.Random(f"pkt-corpus:{seed}:{world_size}:{stream_seed}")
    sources = _sources(seed, world_size, rng)
    names = list(mix)
    weights = [mix[n] for n in names]
    while True:
        yield next(sources[rng.choices(names, weights)[0]])


def _prose_mentions(w: World, n_docs: float) -> dict[str, dict[str, float]]:
    """Expected prose mentions per fact (mean, min, median, max) in `n_docs` documents."""
    total_w = sum(CORPUS_MIX.values())
    pools = {"countries": w.countries, "people": w.people}
    mentions = {}
    for kind in PROSE_KINDS:
        items = pools[kind]
        per_item = n_docs * CORPUS_MIX[kind] / total_w  # each document states every attribute once
        fame = sum(x.fame for x in items)
        counts = sorted(per_item * x.fame / fame for x in items)
        mentions[kind] = {"mean": round(sum(counts) / len(counts), 1), "min": round(counts[0], 1),
                          "median": round(counts[len(counts) // 2], 1),
                          "max": round(counts[-1], 1)}
    return mentions


def corpus_stats(tokenizer: Any, n_tokens: int, seed: int = 0, world_size: float = 1.0,
                 sample_docs: int = 20000) -> dict[str, Any]:
    """Token share per source and expected prose mentions per fact at a `n_tokens` budget."""
    rng = random.Random(f"pkt-corpus-stats:{seed}")
    sources = _sources(seed, world_size, rng)
    per_doc = {}
    for name in CORPUS_MIX:
        docs = [next(sources[name]) for _ in range(max(50, sample_docs // len(CORPUS_MIX)))]
        per_doc[name] = sum(len(r) + 1 for r in tokenizer(docs, add_special_tokens=False)
                            ["input_ids"]) / len(docs)
    total_w = sum(CORPUS_MIX.values())
    tokens_per_doc = sum(CORPUS_MIX[n] / total_w * per_doc[n] for n in CORPUS_MIX)
    share = {n: round(CORPUS_MIX[n] / total_w * per_doc[n] / tokens_per_doc, 4)
             for n in CORPUS_MIX}
    return {"tokens": n_tokens, "tokens_per_doc": {k: round(v, 1) for k, v in per_doc.items()},
            "token_share": share,
            "prose_mentions_per_fact": _prose_mentions(make_world(seed, world_size),
                                                       n_tokens / tokens_per_doc)}
