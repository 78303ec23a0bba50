"""What the dashboard (app.py) calls, as plain Python: nothing here imports gradio, so tests,
notebooks and the CLI can call exactly what the page calls. Every function checks its input and
raises `LabError` with one readable sentence; results are typed views (views.py).

    inputs.py      LabError, readable, number/text checks, a paradigm's settings form
    catalog.py     the pickers: default pair, models, presets, paradigms and their settings, tasks
    pair_tabs.py   Pair, Locate, Incompatibility (the tabs that study a pair, with the
                   incompatibility curve) → their views
    jobs.py        TransferJob (worker thread, progress, cancel), JOBS, start_transfer → TransferView
    compare.py     side-by-side streamed generation and the quick evaluation
    saved_runs.py  the Runs tab: saved runs, bars, one run's details and downloads
    views.py       the typed views and their Markdown
    learn.py       the Learn tab: a guided path of steps (text + the tab and inputs each opens),
                   its numbers filled from the live data into the learn.md template
    gate.py        the heavy-work gate: one running and one waiting job per visitor session
    housekeeping.py  which visitor sessions are live, and pruning their runs after they leave
"""
from __future__ import annotations

from ..models.provider import MODELS
from ..paper import TABLE_COLUMNS as PUBLISHED_COLUMNS
from .catalog import (TOY_TASKS, default_pair, default_preset, device_banner, model_choices,
                      paradigm_choices, paradigm_description, paradigm_title, preset_choices,
                      preset_pair, presets, task_choices, task_example, transfer_plan,
                      ui_settings, warm_up)
from .compare import (DEFAULT_NEW_TOKENS, QUICK_EVAL_ITEMS, compare_stream,
                      default_prompt, likelihood_view, lineup, prompt_reference, quick_eval,
                      slot_labels)
from .gate import GATE, HeavyGate, QuotaExceeded
from .housekeeping import session_ended, session_seen, tidy_runs
from .inputs import LabError, form_settings, lab_limits, readable
from .jobs import JOBS, UI_EVAL_LIMIT, JobRegistry, Snapshot, TransferJob, start_transfer
from .learn import LearnStep, learn_markdown, learn_steps
from .pair_tabs import (shipped_ladder_view, curve_views, locate_pair, pair_report, parametric_view, shipped_curve,
                        similarity_view, start_curve)
from .saved_runs import (RUN_COLUMNS, all_runs, checked_run, default_run, default_run_pick,
                         example_runs_root, published_rows, run_choices, run_detail, run_files,
                         runs_rows, runs_view)
from .views import (CurveView, LikelihoodView, LocateView, PairView, ParametricView, QuickEvalView, RunDetailView, RunsView,
                    SimilarityView, TransferView, loss_reading)


__all__ = ["MODELS", "JOBS", "UI_EVAL_LIMIT", "RUN_COLUMNS", "PUBLISHED_COLUMNS",
           "TOY_TASKS", "task_choices", "shipped_ladder_view", "GATE", "HeavyGate", "QuotaExceeded", "session_ended", "session_seen", "tidy_runs", "LabError", "JobRegistry", "Snapshot", "TransferJob", "LocateView",
           "PairView", "ParametricView", "QuickEvalView", "RunDetailView", "RunsView",
           "SimilarityView", "TransferView", "CurveView", "curve_views", "shipped_curve",
           "start_curve", "LikelihoodView", "likelihood_view", "default_prompt",
           "DEFAULT_NEW_TOKENS", "all_runs", "checked_run", "compare_stream",
           "default_pair", "default_preset", "default_run", "presets", "device_banner", "example_runs_root", "form_settings",
           "lab_limits", "learn_markdown", "lineup", "locate_pair", "model_choices", "pair_report",
           "paradigm_choices", "paradigm_description", "paradigm_title", "parametric_view",
           "preset_choices", "preset_pair", "published_rows", "quick_eval", "readable",
           "run_choices", "run_detail", "run_files", "runs_rows", "runs_view", "similarity_view",
           "slot_labels", "start_transfer", "task_example", "ui_settings", "warm_up",
           "LearnStep", "learn_steps", "transfer_plan", "QUICK_EVAL_ITEMS", "prompt_reference",
           "default_run_pick", "loss_reading"]
