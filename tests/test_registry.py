"""A paradigm declares everything about itself: registering a throw-away one from a temporary
module puts it in `transfer --help`, the UI's choices and `reproduce`'s rows without editing any
other file; registries refuse duplicate names."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from pkt_core.paradigms import PARADIGMS, TransferError, coerce, get_paradigm, settings_of
from pkt_core.paradigms.base import paradigm_names, register

ROOT = Path(__file__).resolve().parents[1]

ECHO = '''
from dataclasses import dataclass

from pkt_core.paradigms import Paradigm, ParadigmConfig, register, setting
from pkt_core.paradigms.base import TransferOutcome


@dataclass
class EchoConfig(ParadigmConfig):
    strength: float = setting(0.5, "how hard the echo pushes back", label="echo strength",
                              lo=0.0, hi=1.0, step=0.05)


@register
class Echo(Paradigm):
    name, title, family = "echo", "Echo (throw-away)", "baseline"
    description = "returns the student unchanged"
    needs_teacher = False
    needed_splits = ("train",)
    table_order = 25
    config_class = EchoConfig

    def run(self, ctx, config):
        ctx.log({"step": 1, "loss": 1.0})
        return TransferOutcome(ctx.student.model, "merged", {"strength": config.strength})
'''


def throwaway_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    """Write a paradigm's source as a temporary module named in PKT_PARADIGMS; its name."""
    name = f"pkt_throwaway_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PKT_PARADIGMS", name)
    return name


@pytest.fixture
def echo_module(tmp_path, monkeypatch):
    """The throw-away paradigm in a temporary module, named in PKT_PARADIGMS; unregistered after."""
    name = throwaway_module(tmp_path, monkeypatch, ECHO)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
           "PKT_PARADIGMS": name, "HF_HUB_OFFLINE": "1"}
    yield env
    PARADIGMS.pop("echo", None)
    sys.modules.pop(name, None)


def test_a_new_paradigm_module_appears_in_the_cli_help(echo_module):
    out = subprocess.run([sys.executable, "-m", "pkt_core", "transfer", "--help"], cwd=ROOT,
                         env=echo_module, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "echo" in text and "returns the student unchanged" in text
    assert "--strength" in text and "echo: how hard the echo pushes back (default 0.5)" in text


def test_a_new_paradigm_module_appears_in_the_ui_choices(echo_module):
    script = ("import json, app, gradio as gr\n"
              "demo = app.build_app()\n"
              "radio = next(b for b in demo.blocks.values() if isinstance(b, gr.Radio) "
              "and b.label == 'paradigm')\n"
              "ids = [b.elem_id for b in demo.blocks.values() if getattr(b, 'elem_id', None)]\n"
              "print(json.dumps({'choices': radio.choices, 'ids': ids}))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=echo_module,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    page = json.loads(out.stdout.strip().splitlines()[-1])
    assert ["Echo (throw-away)", "echo"] in page["choices"]
    assert "echo-strength" in page["ids"]  # its setting got a widget from its config


def test_a_new_paradigm_module_appears_in_reproduce_rows(echo_module, tiny_models, tmp_path):
    from pkt_core.experiments.reproduce import markdown_table, reproduce, table_rows

    rows = table_rows()
    assert rows[:2] == ["student", "teacher"] and "echo" in rows
    assert rows.index("laten") < rows.index("echo") < rows.index("lora")  # its table_order, 25
    table = reproduce(str(tiny_models["llama_deep"]), str(tiny_models["llama"]), ["facts"], [0],
                      tmp_path / "out", paradigms=["echo"], eval_limit=2)
    assert list(table["rows"]) == ["student", "teacher", "echo"]
    assert "Echo (throw-away)" in markdown_table(table)
    run = table["runs"][0]
    assert run["row"] == "echo" and not Path(run["run_dir"]).is_absolute()
    assert (tmp_path / "out" / run["run_dir"] / "model").is_dir()


def test_registries_refuse_duplicate_names():
    laten = type(get_paradigm("laten"))

    class Impostor(laten):  # another class under a taken name: a typo or a clash
        pass

    with pytest.raises(ValueError, match="'laten' is taken by pkt_core.paradigms.laten.LaTen"):
        register(Impostor)
    assert type(PARADIGMS["laten"]) is laten  # the original stays
    register(laten)  # the same class again (its module reloaded) is not a clash
    assert type(PARADIGMS["laten"]) is laten


def test_the_built_in_paradigms_declare_themselves():
    assert paradigm_names() == ["seeking", "laten", "lora", "pissa"]  # the research's row order
    laten = get_paradigm("laten")
    assert laten.needed_splits == ("extract", "align") and laten.example_preset == "lab"
    assert get_paradigm("lora").needed_splits == ("train",) and not get_paradigm("lora").needs_teacher
    for name in paradigm_names():
        specs = settings_of(name, get_paradigm(name).config_class)
        assert specs and all(s.help and s.label for s in specs)


def test_settings_are_coerced_with_one_message_naming_the_setting():
    specs = {s.name: s for s in settings_of("laten", get_paradigm("laten").config_class)}
    assert coerce(specs["steps"], "4") == 4 and coerce(specs["steps"], "") is None
    assert coerce(specs["transfer_rate"], 0.25) == 0.25
    for value, message in (("2.5", "whole number"), ("abc", "must be a number"),
                           (float("nan"), "finite"), ("0", "between 1 and 10000")):
        with pytest.raises(TransferError, match=message):
            coerce(specs["steps"], value)
    with pytest.raises(TransferError, match="transfer rate must be between 0.01 and 1"):
        coerce(specs["transfer_rate"], 5)


MIRROR = '''
from dataclasses import dataclass

from pkt_core.infra.budget import Work
from pkt_core.paradigms import CurveKnob, Paradigm, ParadigmConfig, register, setting
from pkt_core.paradigms.base import TransferOutcome


@dataclass
class MirrorConfig(ParadigmConfig):
    lr: float = setting(1e-3, "how far the mirror leans", label="lean", lo=1e-6, hi=1.0)


@register
class Mirror(Paradigm):
    name, title, family = "mirror", "Mirror (throw-away)", "PrePKT"
    description = "copies nothing, declares everything"
    needed_splits = ("extract",)
    table_order = 15
    config_class = MirrorConfig
    compared = True
    curve_knob = CurveKnob("lr", 1e-4, 1e-2, "how far it leans")
    ladder_preset = "research"
    learn = "a mirror held up to the teacher, for the registry test"

    def work(self, config, splits):
        return Work(student_train=4, calls=4, trained_params=lambda s, t: 1000)

    def run(self, ctx, config):
        return TransferOutcome(ctx.student.model, "merged", {})
'''


@pytest.fixture
def mirror_module(tmp_path, monkeypatch):
    """A throw-away paradigm that declares every place it takes in the lab, from one file."""
    name = throwaway_module(tmp_path, monkeypatch, MIRROR)
    yield name
    PARADIGMS.pop("mirror", None)
    sys.modules.pop(name, None)


def test_a_paradigm_in_one_file_takes_every_place_it_declares(mirror_module):
    """Compare's columns, the curve, the ladder's rows, Learn, the memory estimate and the example
    runs all come from the registry: one new file is enough."""
    from pkt_core import lab
    from pkt_core.experiments.curve import curve_plan
    from pkt_core.experiments.ladder import transfer_rows
    from pkt_core.infra.budget import Work, memory_phases
    from pkt_core.models import inspect_model
    from pkt_core.paradigms import compared_paradigms, curve_paradigms

    spec = get_paradigm("mirror")
    assert compared_paradigms() == ["seeking", "mirror", "laten"]  # table order
    assert "Mirror (throw-away)" in lab.slot_labels()
    slots = lab.lineup("student", {"mirror": "run-dir"}, None, False)
    assert ("Mirror (throw-away)", "run-dir") in slots and len(slots) == 5
    assert "mirror" in curve_paradigms() and "mirror" not in curve_paradigms(default_only=True)
    plan = curve_plan(["mirror"], 3)["mirror"]
    assert plan["setting"] == "lr" and plan["values"][0] == pytest.approx(1e-4)
    assert {"mirror", "mirror@shuffled"} <= set(transfer_rows())
    transfer = next(s for s in lab.learn_steps() if s.key == "transfer").markdown
    assert spec.learn in transfer and "*Mirror*" in transfer
    student = inspect_model("pkt-tiny-student")
    work = spec.work(spec.config_class(), {})
    assert memory_phases(work, student, student, 4)["training"] > \
        memory_phases(Work(student_train=4, calls=4), student, student, 4)["training"]


def test_a_setting_is_validated_once_by_its_declaration_whichever_way_the_config_is_made():
    """Ranges and choices live on the setting; the config checks them when made (no copy of the
    rule in validate()), so Python, the CLI, the page and a preset meet one rule and message."""
    laten = get_paradigm("laten").config_class
    with pytest.raises(TransferError, match="transfer rate must be between 0.01 and 1"):
        laten(transfer_rate=0)
    with pytest.raises(TransferError, match="checkpoints kept must be one of all, last-best"):
        laten(keep_checkpoints="some")
    with pytest.raises(TransferError, match="locate scale must be one of sigma_sqrt, rms"):
        laten(locate_scale="max")
    with pytest.raises(TransferError, match="final step must be between 1 and the number"):
        laten(steps=3, final_step=4)  # a cross-field rule stays in validate()
    with pytest.raises(TransferError, match="LoRA rank must be between 1 and 1024"):
        get_paradigm("lora").config_class.from_dict({"rank": 0})
