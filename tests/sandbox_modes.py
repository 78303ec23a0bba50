"""The modes the sandbox tests run in. The sandbox contains hostile generated code: every test
runs in each mode this machine offers (`available_modes()`, each forced), and the tests of the
five escapes a probe found on a public Space (test_sandbox_escapes.py) run in extra variants that
switch one protection layer off, so each layer is shown to hold on its own. The rlimits mode
cannot stop most escapes: those are expected failures, and it must still run benign programs.

Imported by the test modules; tests/sandbox_fixtures.py turns these into the `mode` and
`hostile_mode` fixtures."""
from __future__ import annotations

from pkt_core.sandbox import _policy, available_modes

HERE = available_modes()


def modes_and_layer_variants() -> list[str]:
    """The modes, plus layer-by-layer variants: 'X-noseccomp' runs mode X without its seccomp filter
    (namespaces alone, Landlock alone); 'landlock@abi3' pretends the kernel is older (Landlock fs
    rules only: seccomp must stop TCP and signals)."""
    out = list(HERE)
    for mode in ("namespaces", "landlock"):
        if mode in HERE and _policy.seccomp_filter(False)[0]:
            out.append(f"{mode}-noseccomp")
    if "landlock" in HERE and _policy.landlock_abi() > 3:
        out.append("landlock@abi3")
    return out
