"""What a teacher walking a class through the lab relies on, on the shipped embedded pair: Learn
is a guided path whose every number comes from the live data or the config; Locate, the
Incompatibility notes, the Transfer plan and result, Compare and Runs explain themselves and
agree with each other. The lab functions are called directly (no server)."""
from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from pkt_core import lab, paper
from pkt_core.infra.budget import format_bytes, format_duration
from pkt_core.lab import learn as learn_module
from pkt_core.paradigms import get_paradigm, paradigm_names
from pkt_core.infra.paths import results_dir
from pkt_core.infra.runs import RunDir
from pkt_core.stats import paired_change_ci
from pkt_core.tasks import get_task
from pkt_core.transfer import TransferRequest, prepare

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "assets" / "models"
TEACHER, STUDENT = "pkt-tiny-teacher", "pkt-tiny-student"
TAB_ORDER = ["pair", "locate", "incompat", "transfer", "compare", "runs"]

pytestmark = pytest.mark.skipif(lab.default_pair() != (TEACHER, STUDENT),
                                reason="the embedded family is not built")


def _config(name: str) -> dict:
    return json.loads((MODELS_DIR / name / "config.json").read_text())


def _card_scores(name: str) -> dict:
    return json.loads((MODELS_DIR / name / "scores.json").read_text())


def _flat(text: str) -> str:
    """Text with its line breaks as spaces (the template wraps its lines)."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def live_steps() -> dict[str, lab.LearnStep]:
    return {step.key: step for step in lab.learn_steps(live=True)}


@pytest.fixture(scope="module")
def first_locate() -> lab.LocateView:
    """What Locate shows on the example Learn opens it with."""
    prompt, answer = lab.task_example("facts", 0)
    return lab.locate_pair(TEACHER, STUDENT, prompt, answer)


# ---- 1. Learn ---------------------------------------------------------------------------------------
def test_learn_template_has_no_number_written_by_hand():
    text = learn_module.TEMPLATE.read_text(encoding="utf-8")
    prose = re.sub(r"\{[a-z_]+\}", "", text)
    assert not re.findall(r".{0,30}\d.{0,30}", prose), "write numbers as {placeholders}"


def test_learn_is_a_guided_path_through_the_live_tabs(live_steps):
    steps = list(live_steps.values())
    tabs = [s.tab for s in steps]
    assert [t for i, t in enumerate(tabs) if t not in tabs[:i]] == TAB_ORDER
    assert all(s.markdown and s.title and s.button and s.inputs for s in steps)
    locate = live_steps["locate"].inputs
    assert (locate["prompt"], locate["answer"]) == lab.task_example(locate["task"], locate["index"])
    transfer, control = live_steps["transfer"].inputs, live_steps["control"].inputs
    assert transfer["teacher"] == TEACHER and control["teacher"] == f"shuffled:{TEACHER}"
    assert transfer["preset"] in lab.presets(transfer["paradigm"])
    assert live_steps["compare"].inputs["quick_n"] == lab.QUICK_EVAL_ITEMS
    pick = live_steps["runs"].inputs["pick"]
    assert pick == lab.default_run_pick() and RunDir(Path(pick)).status == "complete"
    # the page's quick evaluation and Learn share one default
    assert inspect.signature(lab.quick_eval).parameters["n_items"].default == lab.QUICK_EVAL_ITEMS


def test_learn_can_be_read_aloud_in_five_minutes(live_steps):
    for text in (lab.learn_markdown(), lab.learn_markdown(live=True)):
        assert len(text.split()) <= 700
        assert "{" not in text and "}" not in text  # every placeholder was filled


def test_learn_pair_ratios_come_from_the_configs(live_steps):
    t, s = _config(TEACHER), _config(STUDENT)
    text = _flat(live_steps["pair"].markdown)
    assert f"{t['num_hidden_layers']} layers {t['hidden_size']} wide" in text
    assert f"{s['num_hidden_layers']} layers {s['hidden_size']} wide" in text
    assert f"{t['num_hidden_layers'] // s['num_hidden_layers']}× the depth" in text
    assert f"{t['hidden_size'] // s['hidden_size']}× the width" in text
    params = _card_scores(TEACHER)["params"] / _card_scores(STUDENT)["params"]
    assert f"{params:.1f}× the parameters" in text


def test_learn_quotes_the_paper_and_the_lab_defaults(live_steps):
    transfer = _flat(live_steps["transfer"].markdown)
    for row in paper.TABLE:
        for value in (row[1], row[2]):  # MMLU, GSM8K
            if "SemAlign" not in row[0]:
                assert f"{value:.2f}" in transfer, (row[0], value)
    means = paper.SIMILARITY_MEANS
    incompat = _flat(live_steps["incompat"].markdown)
    assert f"{min(means.values()):.3f}" in incompat and f"{max(means.values()):.3f}" in incompat
    ci = inspect.signature(paired_change_ci)
    control = _flat(live_steps["control"].markdown)
    assert f"{ci.parameters['level'].default * 100:g} %" in control
    assert f"{ci.parameters['n_boot'].default:,}" in control
    assert f"first {lab.QUICK_EVAL_ITEMS} test items" in _flat(live_steps["compare"].markdown)


def test_learn_states_what_the_first_locate_actually_shows(live_steps, first_locate):
    """The ρ and overlaps Learn quotes are the ones the Locate summary prints for that example."""
    row = re.search(r"Spearman ρ.*?\| ([+-]\d\.\d\d) \| ([+-]\d\.\d\d) \|", first_locate.summary)
    overlap = re.search(r"layer overlap.*?\| (\d\.\d\d) \| (\d\.\d\d) \|", first_locate.summary)
    text = _flat(live_steps["locate"].markdown)
    ffn, attn = row.groups()
    assert f"ρ {ffn}" in text and f"({attn})" in text
    assert all(value in text for value in overlap.groups())
    for rho in (ffn, attn):  # said in words that fit the number (no "rarely agree" beside +0.80)
        value = float(rho)
        word = ("largely agree" if value >= 0.7 else "partly agree" if value >= 0.4
                else "barely relate" if value > -0.4 else "run opposite")
        assert f"{word} (" in text and "rarely" not in text
    target = re.search(r"\*\*Target token\*\* (`.*?` \(id \d+\))", first_locate.summary).group(1)
    assert target in text


def test_learn_results_paragraph_matches_the_shipped_results(live_steps):
    results = json.loads((results_dir() / "RESULTS.json").read_text())
    curve = json.loads(lab.pair_tabs.curve_file(TEACHER, STUDENT, "facts").read_text())
    text = _flat(live_steps["runs"].markdown)
    rows = results["rows"]
    for row in ("seeking", "seeking@shuffled", "laten", "laten@shuffled", "lora", "pissa"):
        assert f"{100 * rows[row]['facts']['change']:+.1f}" in text, row
    for name in ("seeking", "laten"):  # every task's change, and the verdict against the control
        changes = [f"{100 * rows[name][t]['change']:+.1f}" for t in results["tasks"]]
        assert f"({', '.join(changes)})" in text, name
        cell, control = rows[name]["facts"], rows[f"{name}@shuffled"]["facts"]
        lo, hi = cell["change_ci95"]
        inside = abs(cell["change"] - control["change"]) <= (hi - lo) / 2
        sentence = text[text.index(learn_module.short_title(get_paradigm(name).title) + ": `facts`"):]
        sentence = sentence[:sentence.index(";")]
        assert ("the teacher adds nothing beyond it" in sentence) == inside, sentence
    for name, described in curve["paradigms"].items():
        series = curve["series"][name]
        above = sum(p["vs_shuffled"]["ci95"][0] > 0 for p in series)
        title = learn_module.short_title(described["title"])
        assert f"{above} of {len(series)} {title} points" in text, name
    lead = _card_scores(TEACHER)["scores"]["facts"]["score"] - _card_scores(STUDENT)["scores"]["facts"]["score"]
    assert f"by {100 * lead:.1f} points" in text
    assert f"{_config(STUDENT)['hidden_size']} wide" in text


# ---- 2. Locate --------------------------------------------------------------------------------------
def test_locate_names_the_target_token_and_explains_the_overlap(first_locate):
    target_id = int(re.search(r"\(id (\d+)\)", first_locate.summary).group(1))
    text = lab.MODELS.get(TEACHER).tokenizer.decode([target_id])
    assert f"**Target token** `{text!r}` (id {target_id})" in first_locate.summary
    assert re.search(r"top-1 layer overlap \(the share of the student's strongest layer that the "
                     r"teacher also ranks top-1 at the same relative depth\)", first_locate.summary)


@pytest.mark.parametrize("index", [-1, 20, 99999])
def test_an_example_outside_the_split_is_refused_with_its_real_size(index):
    last = len(get_task("facts").split("extract")) - 1
    with pytest.raises(lab.LabError, match=rf"must be between 0 and {last} \(got {index}\)"):
        lab.task_example("facts", index)
    assert lab.task_example("facts", last)[0]


# ---- 3. Incompatibility -----------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["cka", "cosine"])
def test_similarity_notes_say_how_to_read_and_count_the_texts_used(metric):
    view = lab.similarity_view(TEACHER, STUDENT, "facts", metric, 24)
    used = re.search(r"(\d+) of 24 texts used", view.notes)
    n_used = int(used.group(1)) if used else 24
    assert f"on {n_used} `facts` test examples" in view.notes
    assert "diagonal" in view.notes and "row = student layer" in view.notes
    if metric == "cka":
        assert "1 = the two layers" in view.notes and "0 = no linear relation" in view.notes
        assert "switch to the signed cosine" in view.notes
    else:
        assert "below 0" in view.notes and "signed cosine" not in view.notes.split("**", 2)[2]
        assert "CKA" not in view.notes  # the app's tests tell the two notes apart by it


def test_parametric_summary_says_why_pissa_is_high_here():
    view = lab.parametric_view(TEACHER, STUDENT, 16)
    pissa = re.search(r"\| PiSSA \(student's own top-r\) \| ([+-]\d\.\d{3}) \|", view.summary).group(1)
    assert f"cos(BA, W) = ‖BA‖/‖W‖ (here {pissa})" in view.summary
    assert "top-16 singular directions" in view.summary
    assert f"{_config(STUDENT)['hidden_size']}-wide" in view.summary
    assert paper.PARAMETRIC_COSINES["own_top_r"].split(" · ")[0] in view.summary


# ---- 4. Transfer ------------------------------------------------------------------------------------
@pytest.mark.parametrize("paradigm", paradigm_names())
def test_transfer_plan_names_pair_paradigm_and_expected_time(paradigm):
    loads = lab.MODELS.loads
    plan = lab.transfer_plan(paradigm, TEACHER, STUDENT, "facts")
    spec = get_paradigm(paradigm)
    preset = lab.default_preset(paradigm, TEACHER)
    prepared = prepare(TransferRequest(paradigm=paradigm, student=STUDENT, teacher=TEACHER,
                                       task="facts", preset=preset, eval_limit=lab.UI_EVAL_LIMIT))
    assert spec.title in plan and spec.description in plan and f"`{preset}` defaults" in plan
    assert f"about {format_duration(prepared.estimated_seconds)}" in plan
    assert f"peak model memory about {format_bytes(prepared.estimated_peak_bytes)}" in plan
    assert f"`{STUDENT}` (4 × 64)" in plan
    assert (f"`{TEACHER}` (8 × 256)" in plan) == spec.needs_teacher
    assert lab.MODELS.loads == loads  # no weights were read


def test_transfer_plan_refusals_are_one_readable_line():
    for plan in (lab.transfer_plan("laten", STUDENT, TEACHER, "facts"),
                 lab.transfer_plan("nope", TEACHER, STUDENT, "facts"),
                 lab.transfer_plan("laten", TEACHER, STUDENT, "facts", {"lr": "abc"}, "lab"),
                 lab.transfer_plan("laten", TEACHER, STUDENT, "facts", eval_limit=0)):
        assert plan.startswith("⚠️ ") and "\n" not in plan and "Traceback" not in plan
    assert "deeper" in lab.transfer_plan("laten", STUDENT, TEACHER, "facts")


def _rows(values: list[float]) -> list[dict]:
    return [{"step": i + 1, "loss": v} for i, v in enumerate(values)]


def test_loss_reading_tells_a_falling_curve_from_a_flat_noisy_one():
    import numpy as np

    rng = np.random.default_rng(0)
    falling = list(2.0 - np.linspace(0, 1.2, 20) + rng.normal(0, 0.05, 20))
    flat = list(1.0 + rng.normal(0, 0.05, 20))
    assert "fell from" in lab.loss_reading(_rows(falling))
    assert "stayed flat" in lab.loss_reading(_rows(flat))
    assert "rose from" in lab.loss_reading(_rows(falling[::-1]))
    assert "too few" in lab.loss_reading(_rows([1.0, 0.5]))


def test_a_finished_transfer_reads_its_loss_curve():
    run = lab.example_runs_root() / "example-laten-facts"
    rows = RunDir(run).log_rows()
    metrics = RunDir(run).read_json("metrics.json")
    text = lab.views.result_markdown(metrics, "LaTen (PrePKT)", rows)
    assert "**Loss curve:** stayed flat" in text  # the shipped LaTen run barely moves its loss
    assert "**Loss curve:**" in lab.run_detail(str(run)).summary


# ---- 5. Compare -------------------------------------------------------------------------------------
def test_compare_shows_the_reference_answer():
    assert "**D. Drilou**" in lab.prompt_reference(lab.default_prompt())
    prompt, answer = lab.task_example("arith", 0, "test")
    assert answer.strip() in lab.prompt_reference(prompt)
    assert answer.strip() in lab.likelihood_view([("base student", STUDENT)], prompt).likelihood_notes
    assert "none" in lab.prompt_reference("What is the capital of Velora?")


# ---- 6. Runs ----------------------------------------------------------------------------------------
def _fake_run(root: Path, name: str, status: str, finished: bool) -> str:
    path = root / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"pkt_run": True, "paradigm": "laten",
                                                  "task": "facts", "student": STUDENT}))
    (path / "status.json").write_text(json.dumps({"status": status}))
    if finished:
        (path / "model").mkdir()
    return str(path)


def test_the_runs_picker_defaults_to_the_newest_finished_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PKT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("PKT_EXAMPLE_RUNS_DIR", str(tmp_path / "examples"))
    older = _fake_run(tmp_path / "runs", "20260101-000000-laten-facts", "complete", True)
    _fake_run(tmp_path / "runs", "20260102-000000-laten-facts", "cancelled", False)
    newest = lab.run_choices(finished_only=False)[0][1]
    assert RunDir(Path(newest)).status == "cancelled"  # what the picker used to open with
    assert lab.default_run_pick() == str(Path(older).resolve())
    assert lab.default_run_pick(newest) == newest  # a still-listed choice is kept


def test_run_picker_labels_fit_a_dropdown_at_1024_px():
    """Compare's run pickers are about 420 px wide at 1024 px: ~48 characters of label."""
    from pkt_core.lab import run_choices

    labels = [label for label, _ in run_choices(finished_only=False)]
    assert labels and all(len(label) <= 48 for label in labels), labels
