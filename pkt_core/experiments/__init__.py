"""Experiments built on transfers: the incompatibility curve (`curve`), the scale ladder
(`ladder`), the results table with its controls (`reproduce`), building the embedded family
(`zoo`) and its shipped example runs (`example_runs`)."""
