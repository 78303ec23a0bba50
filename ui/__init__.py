"""The dashboard's tabs (Gradio): one module per tab, each a builder that lays out its widgets as
a named structure and a `wire_…` function that connects them to pkt_core.lab; glue.py holds the
pieces they share. app.py lays the tabs out on the page and wires them together.

    glue.py             readable errors, the heavy slot, sessions, captions, view → widgets
    pair.py             Pair: the teacher and the student, their cards and the verdict
    locate.py           Locate: logit-lens attribution of one example in both models
    incompatibility.py  Incompatibility: heatmaps, parametric similarity, the curve, the ladder
    transfer.py         Transfer: a paradigm, its settings (from its config) and a live run
    compare.py          Compare: one column per compared paradigm of the registry
    runs.py             Runs: saved runs, one run's details and downloads, the run pickers
    learn.py            Learn: a guided path that opens the other tabs with inputs filled in
"""
