"""The Compare tab over HTTP: streamed side-by-side answers, empty slots, the quick evaluation,
how a multiple-choice item is scored, and its run pickers following the paradigm registry."""
from __future__ import annotations

import json

pytest_plugins = ["tests.app_server"]  # the shared server: `server`, `client`, `my_runs`


def test_compare_streams_side_by_side(client, server, my_runs):
    from pkt_core.evaluate import generate
    from pkt_core.models import load_model
    from pkt_core.tasks import render_chat

    prompt = "What is the capital of Velora?"
    job = client.submit(server.student, my_runs["seeking"], my_runs["laten"], server.teacher, True,
                        prompt, 12, 0, 0, api_name="/compare")
    *final, plot, notes, _ = job.result()
    partials = job.outputs()
    assert len(partials) > 2, "outputs arrive token by token"
    assert len(final) == 4 and all(text.strip() for text in final)
    assert "Not a multiple-choice item" in notes  # a free prompt is scored as generated
    # greedy streaming gives what the batch generator gives
    student = load_model(server.student)
    expected = generate(student.model, student.tokenizer, [render_chat(prompt)], 12)[0]
    assert final[0] == (expected or "(empty answer: the model stopped at once)")


def test_compare_with_empty_slots_says_why(client, server):
    *final, _, _, _ = client.predict(server.student, None, None, server.teacher, False, "Hello", 4,
                                     0, 0, api_name="/compare")
    assert "no Seeking (PostPKT) run" in final[1] and "teacher not included" in final[3]


def test_quick_eval_per_item_table(client, server, my_runs):
    summary, table = client.predict(server.student, my_runs["seeking"], my_runs["laten"],
                                    server.teacher, True, "facts", 3, api_name="/quick_eval")
    assert summary.count("|") > 8 and "base student" in summary
    models = {row[0] for row in table["data"]}
    assert len(models) == 4 and len(table["data"]) == 12
    assert {row[6] for row in table["data"]} <= {"✓", "✗"}
    assert "by likelihood" in summary and all(row[4] != "—" for row in table["data"])


def test_compare_shows_how_a_multiple_choice_item_is_scored(client, server):
    from pkt_core import lab

    *answers, plot, notes, _ = client.predict(server.student, None, None, server.teacher, True,
                                           lab.default_prompt(), 8, 0, 0, api_name="/compare")
    bars = json.loads(plot["plot"])["data"]
    assert [b["name"] for b in bars] == ["base student", "teacher"]
    assert all(len(b["y"]) == 4 for b in bars) and sum("✓" in x for x in bars[0]["x"]) == 1
    assert "reference **D. Drilou**" in notes and "likelihood pick" in notes


# ---- the run pickers come from the registry -----------------------------------------------------
def test_compare_inputs_follow_the_paradigm_registry(client):
    from pkt_core import lab
    from pkt_core.paradigms import compared_paradigms

    runs = [f"{paradigm}_run" for paradigm in compared_paradigms()]
    assert {"seeking_run", "laten_run"} <= set(runs)  # what scripted clients pass today
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]

    def names(endpoint):
        return [p["parameter_name"] for p in api[endpoint]["parameters"]]

    assert names("/compare") == ["student", *runs, "teacher", "with_teacher", "prompt",
                                 "max_new_tokens", "temperature", "seed"]
    assert names("/quick_eval") == ["student", *runs, "teacher", "with_teacher", "task",
                                    "n_items"]
    assert names("/runs") == ["student", *runs]
    assert names("/page_load") == ["teacher", "student", *runs]
    # one answer box per slot, then the likelihood plot, its notes and the plot's caption
    assert len(api["/compare"]["returns"]) == len(lab.slot_labels()) + 3


# A compared paradigm of its own module: its run gets a picker, an API input and a column.
COMPARED_ECHO = "\nEcho.compared = True\n"
BUILD = ("import json, app, gradio as gr\n"
         "demo = app.build_app()\n"
         "api = demo.get_api_info()['named_endpoints']\n"
         "labels = [b.label for b in demo.blocks.values() if isinstance(b, gr.Dropdown)]\n"
         "boxes = [b.elem_id for b in demo.blocks.values() if isinstance(b, gr.Textbox)\n"
         "         and (b.elem_id or '').startswith('out-')]\n"
         "print(json.dumps({'compare': [p['parameter_name'] for p in api['/compare']"
         "['parameters']], 'labels': labels, 'boxes': boxes}))\n")


def test_a_new_compared_paradigm_gets_its_own_run_picker(tmp_path):
    import os
    import subprocess
    import sys
    import textwrap

    from tests.test_registry import ECHO, ROOT

    module = f"pkt_echo_compared_{os.getpid()}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(ECHO) + COMPARED_ECHO)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
           "PKT_PARADIGMS": module, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", BUILD], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    page = json.loads(out.stdout.strip().splitlines()[-1])
    assert "echo_run" in page["compare"] and {"seeking_run", "laten_run"} <= set(page["compare"])
    assert "Echo (throw-away) run" in page["labels"]
    assert len(page["boxes"]) == 5  # base student, three compared paradigms, teacher
