"""A view's fields must match a tab's widgets (ui.glue.ViewWidgets): a field with no widget of
its name is refused when the page is wired, instead of being silently dropped."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

gr = pytest.importorskip("gradio")


@dataclass
class SummaryView:
    summary: str | None
    seconds: float  # for the handler, shown nowhere


@dataclass
class SummaryTab:
    summary: Any
    seconds_spent: Any  # a widget, but under another name than the field


def _tab() -> SummaryTab:
    with gr.Blocks():
        return SummaryTab(gr.Markdown(), gr.Markdown())


def test_a_view_field_without_a_widget_is_refused_with_its_name():
    from ui.glue import ViewWidgets

    with pytest.raises(ValueError, match=r"SummaryView: no widget for field\(s\) seconds"):
        ViewWidgets(_tab(), SummaryView)


def test_a_declared_data_field_is_left_out_and_a_stale_one_is_refused():
    from ui.glue import ViewWidgets

    tab = _tab()
    widgets = ViewWidgets(tab, SummaryView, data=("seconds",))
    assert widgets.outputs == [tab.summary]
    assert widgets.updates(SummaryView("done", 1.5)) == {tab.summary: "done"}
    assert widgets.updates(SummaryView(None, 1.5)) == {}  # None leaves the widget as it is
    assert widgets.updates(SummaryView(None, 1.5), clear_empty=True) == {tab.summary: None}
    with pytest.raises(ValueError, match="data name.* elapsed are not fields"):
        ViewWidgets(tab, SummaryView, data=("seconds", "elapsed"))


def test_an_attribute_that_is_no_widget_does_not_count():
    from ui.glue import ViewWidgets

    @dataclass
    class NotesTab:
        summary: Any
        seconds: Any

    with gr.Blocks():
        tab = NotesTab(gr.Markdown(), seconds=3.0)  # a number, not a widget
    with pytest.raises(ValueError, match="seconds"):
        ViewWidgets(tab, SummaryView)


def test_a_view_of_another_class_is_refused():
    from ui.glue import ViewWidgets

    @dataclass
    class OtherView:
        summary: str

    widgets = ViewWidgets(_tab(), SummaryView, data=("seconds",))
    with pytest.raises(TypeError, match="expected a SummaryView, got OtherView"):
        widgets.updates(OtherView("x"))
