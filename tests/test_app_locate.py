"""The Locate tab over HTTP: curves, score maps and top neurons, and each visitor's own
stability between examples."""
from __future__ import annotations

import json
import threading

pytest_plugins = ["tests.app_server"]  # the shared server: `server`, `client`, `my_runs`


def test_locate_draws_curves_maps_and_top_neurons(client, server):
    prompt, answer = client.predict("facts", 0, api_name="/task_example")
    assert prompt and answer
    out = client.predict(server.teacher, server.student, prompt, answer, True, True,
                         api_name="/locate")
    summary, layer_ffn, layer_attn, *maps, top = out[:8]
    captions = out[8:]  # each plot's "how to read this", after the view's outputs
    assert len(captions) == 6 and all("How to read" in c for c in captions)
    assert "Target token" in summary and "Spearman" in summary
    for plot in (layer_ffn, layer_attn, *maps):
        fig = json.loads(plot["plot"])
        assert fig["data"] and fig["layout"]["height"] > 0
        assert fig["layout"]["xaxis"]["title"]["text"]
    assert "relative depth" in json.loads(layer_ffn["plot"])["layout"]["xaxis"]["title"]["text"]
    assert {row[0] for row in top["data"]} == {"teacher", "student"}


def test_two_clients_in_parallel_keep_separate_state(server):
    """A locates two examples (sees stability between them); B, at the same time, locates one
    (sees no stability: A's examples are not B's)."""
    a, b = server.client(), server.client()
    ex = [a.predict("facts", i, api_name="/task_example") for i in range(3)]
    results: dict[str, list[str]] = {"a": [], "b": []}

    def run(name, client, examples):
        for prompt, answer in examples:
            results[name].append(client.predict(server.teacher, server.student, prompt, answer,
                                                True, True, api_name="/locate")[0])

    threads = [threading.Thread(target=run, args=("a", a, ex[:2])),
               threading.Thread(target=run, args=("b", b, ex[2:]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results["a"]) == 2 and len(results["b"]) == 1
    assert "Stability" not in results["a"][0] and "Stability" in results["a"][1]
    assert "Stability" not in results["b"][0]
