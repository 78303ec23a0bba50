"""The Incompatibility tab over HTTP: the similarity heatmaps beside the paper's numbers, and
the parametric similarity."""
from __future__ import annotations

import json

import pytest

pytest_plugins = ["tests.app_server"]  # the shared server: `server`, `client`, `my_runs`


@pytest.mark.parametrize("metric", ["cka", "cosine"])
def test_similarity_heatmaps_beside_the_published_numbers(client, server, metric):
    heat, table, notes, caption = client.predict(server.teacher, server.student, "facts", metric,
                                                 8, api_name="/similarity")
    assert "How to read" in caption
    fig = json.loads(heat["plot"])
    assert len([t for t in fig["data"] if t["type"] == "heatmap"]) == 4
    rows = {r[0]: r for r in table["data"]}
    assert rows["up_proj"][1] == 0.691 and rows["o_proj"][1] == 0.411
    assert all(isinstance(r[2], float) for r in rows.values())
    assert ("CKA" in notes) == (metric == "cka")


def test_parametric_similarity(client, server):
    plot, text, caption = client.predict(server.teacher, server.student, 4, api_name="/parametric")
    assert "How to read" in caption
    # one row per init: the student's own top-r directions and the teacher's piece
    assert json.loads(plot["plot"])["data"]
    assert "PiSSA (student's own top-r)" in text and "Seeking-style (teacher sub-block)" in text
