"""The dashboard end to end over HTTP, as a whole page: build_app() launched on a free port
(tests/app_server.py, shared with the test_app_*.py modules, one per tab) and driven with
gradio_client on a micro build of the embedded family.

Here: every event has an API name and heavy work shares one slot, building the page loads no
model, light events run beside heavy ones, bad input gives one readable line, and README's Space
front matter matches requirements.txt.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

# The shared server of the test_app*.py modules (`server`, `client`, `my_runs`) and its helpers,
# imported here before pytest loads it as a plugin: registered first, so its asserts still report.
pytest.register_assert_rewrite("tests.app_server")
pytest_plugins = ["tests.app_server"]
from tests.app_server import error_text, run_transfer  # noqa: E402


ROOT = Path(__file__).resolve().parents[1]


# ---- the page's structure ---------------------------------------------------------------------
def test_every_event_has_an_api_name_and_heavy_work_shares_one_slot(server, client):
    fns = server.info["fns"]
    assert fns and all(fns), "every event has an api_name"
    assert {"check_pair", "preset_pair", "task_example", "locate", "similarity", "parametric",
            "transfer", "cancel_transfer", "compare", "quick_eval", "runs", "run_detail",
            "run_files", "page_load"} <= set(fns)
    for name in ("locate", "similarity", "parametric", "transfer", "compare", "quick_eval"):
        # the heavy group only holds waiting handlers; lab.GATE runs them one at a time
        assert fns[name][0] == "heavy", name
    assert fns["cancel_transfer"][0] != "heavy"
    assert server.info["max_size"]
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    # gr.Examples adds its own private 'load_example'; every public event is callable by name
    assert {f"/{name}" for name, f in fns.items() if f[2] == "public"} <= set(named)
    hidden = {n for n, f in fns.items() if f[2] != "public"}
    assert all(n in ("load_example", "show_settings", "clear_transfer") or n.startswith("goto_")
               or n.endswith(("_preset_values", "_preset_for_teacher")) for n in hidden), hidden


def test_building_the_app_is_fast_and_loads_no_model(server):
    assert server.info["models_loaded"] == 0
    assert server.info["build_s"] < 10


def test_light_events_beside_heavy_work_do_not_disturb_it(server):
    """Pair checks (not in the heavy slot) run while models compute in another request; building
    a model switches torch's global default dtype, which must not leak into that computation."""
    light, heavy = server.client(), server.client()
    errors: list[str] = []

    def checks():
        for _ in range(6):
            try:
                light.predict(server.teacher, server.student, api_name="/check_pair")
            except Exception as err:  # noqa: BLE001
                errors.append(f"check_pair: {err}")

    thread = threading.Thread(target=checks)
    thread.start()
    for _ in range(3):
        try:
            heavy.predict(server.teacher, server.student, "facts", "cosine", 8,
                          api_name="/similarity")
            heavy.predict(server.student, None, None, server.teacher, True, "Hello", 8, 0, 0,
                          api_name="/compare")
        except Exception as err:  # noqa: BLE001
            errors.append(f"heavy: {err}")
    thread.join(120)
    assert not errors, errors


# ---- bad input: one readable line, never a traceback ------------------------------------------
def test_bad_inputs_give_readable_errors(client, server):
    cases = [
        (lambda: client.predict(server.teacher, server.student, "  ", "x", True, True,
                                api_name="/locate"), "prompt is empty"),
        (lambda: client.predict("nobody/nothing", server.student, "q", "a", True, True,
                                api_name="/locate"), "not available offline"),
        (lambda: client.predict("not a model", server.student, "facts", "cka", 8,
                                api_name="/similarity"), "unknown model"),
        (lambda: run_transfer(client, server, "laten", steps=2, lr=5.0), "learning rate"),
        (lambda: run_transfer(client, server, "seeking", epochs=-1), "epochs"),
        (lambda: run_transfer(client, server, "laten", transfer_rate=5.0), "maximum"),
        (lambda: run_transfer(client, server, "laten", steps=2, teacher=server.student,
                              student=server.teacher), "incompatible"),
        (lambda: client.predict(server.student, None, None, server.teacher, True, "", 8, 0, 0,
                                api_name="/compare"), "prompt is empty"),
    ]
    for call, expected in cases:
        with pytest.raises(Exception) as err:
            call()
        assert expected in error_text(err).lower(), (expected, str(err.value))
    # refused transfers leave no run directory behind
    from pkt_core.infra.runs import list_runs

    assert all(r["status"] in ("complete", "cancelled") for r in list_runs(server.runs))


# ---- the Space ---------------------------------------------------------------------------------
def parse_front_matter(text: str) -> dict:
    """The README's simple YAML front matter (scalars and `- item` lists), parsed by hand."""
    assert text.startswith("---\n"), "README.md must start with the Space front matter"
    block = text[4:text.index("\n---\n", 4)]
    data: dict = {}
    key = None
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = re.match(r"^\s+-\s+(.*)$", line)
        if item and key:
            data.setdefault(key, []).append(item.group(1).strip().strip("'\""))
            continue
        match = re.match(r"^([A-Za-z_][\w-]*):\s*(.*)$", line)
        assert match, f"unparsable front-matter line: {line!r}"
        key, value = match.group(1), match.group(2).strip().strip("'\"")
        if value:
            data[key] = value
    return data


def test_readme_front_matter_matches_the_gradio_pin():
    meta = parse_front_matter((ROOT / "README.md").read_text(encoding="utf-8"))
    pin = re.search(r"^gradio==([\w.]+)\s*$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin, "requirements.txt pins gradio"
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == pin.group(1)
    assert meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).is_file()
    assert meta["title"] == "PKT Lab" and meta.get("emoji")
    assert 0 < len(meta["short_description"]) <= 60
    from pkt_core.models import PRESET_PAIRS

    hub = {ref for p in PRESET_PAIRS for ref in (p.teacher, p.student) if "/" in ref}
    assert "HuggingFaceTB/SmolLM2-360M-Instruct" in meta["models"]
    assert set(meta["models"]) <= hub


def test_readme_keeps_the_quick_start_test_command():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install -r requirements-dev.txt && python -m pytest tests -q" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest tests -q" in ci
