"""The scale ladder: every pair of the embedded family, measured the same way."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pkt_core.experiments.ladder import ladder_pairs, shipped_transfer

ROOT = Path(__file__).resolve().parents[1]


def test_pairs_go_from_larger_to_smaller_plus_the_sibling():
    members = [("pkt-tiny-teacher", 8), ("pkt-tiny-middle", 4), ("pkt-tiny-student", 1),
               ("pkt-tiny-sibling", 1)]
    pairs = ladder_pairs(members)
    assert ("pkt-tiny-teacher", "pkt-tiny-middle") in pairs
    assert ("pkt-tiny-middle", "pkt-tiny-sibling") in pairs
    assert ("pkt-tiny-sibling", "pkt-tiny-student") in pairs
    assert ("pkt-tiny-student", "pkt-tiny-teacher") not in pairs
    assert len(pairs) == 6 and len(set(pairs)) == 6


def test_transfer_numbers_come_from_the_results_file_of_that_pair(tmp_path):
    cell = {"change": 0.04, "change_ci95": [0.0, 0.08]}
    (tmp_path / "RESULTS-x.json").write_text(json.dumps({
        "teacher": "a", "student": "b", "seeds": [0, 1, 2],
        "rows": {"seeking": {"facts": cell}, "lora": {"facts": cell}}}))
    got = shipped_transfer("a", "b", tmp_path)
    assert got["seeds"] == 3 and set(got["rows"]) == {"seeking"}
    assert got["rows"]["seeking"]["facts"] == {"change": 0.04, "ci95": [0.0, 0.08]}
    assert shipped_transfer("b", "a", tmp_path) == {}


@pytest.fixture(scope="module")
def micro_ladder(tmp_path_factory):
    from pkt_core.experiments.zoo import build_zoo

    family = tmp_path_factory.mktemp("ladder-family")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_WAIT_POLICY", "PASSIVE")
        build_zoo(family, micro=True, progress=False, parallel=True)
    env = {**os.environ, "PKT_EMBEDDED_DIR": str(family), "HF_HUB_OFFLINE": "1",
           "OMP_WAIT_POLICY": "PASSIVE"}
    out = subprocess.run([sys.executable, "-m", "pkt_core", "ladder", "--json",
                          "--html", str(family / "ladder.html")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout), family


def test_ladder_json_holds_every_pair_with_its_measures(micro_ladder):
    ladder, family = micro_ladder
    pairs = {(p["teacher"], p["student"]): p for p in ladder["pairs"]}
    assert len(pairs) == 6 and ("pkt-micro-sibling", "pkt-micro-student") in pairs
    for p in pairs.values():
        assert set(p["cka"]) == {"up_proj", "down_proj", "v_proj", "o_proj"} == set(p["cosine"])
        assert all(0 <= v <= 1 for v in p["cka"].values())
        assert p["param_ratio"] >= 1 and isinstance(p["transfer"], dict)
        assert set(p["locate"]) == {"ffn", "attn"}
    sibling = pairs[("pkt-micro-sibling", "pkt-micro-student")]
    assert sibling["same_size"] and sibling["param_ratio"] == 1.0
    assert (family / "ladder.html").is_file() and (family / "ladder.json").is_file()


def test_the_ladder_figure_marks_the_sibling_and_says_how_to_read_it(micro_ladder):
    from pkt_core.figures import caption_of, ladder_figure

    fig = ladder_figure(micro_ladder[0])
    stars = [t for t in fig.data if t.marker and t.marker.symbol == "star"]
    assert len(stars) == 1 and stars[0].x == (1.0,), "the sibling pair is starred at ratio 1"
    assert "How to read" in caption_of(fig) and "sibling" in caption_of(fig)
