"""Fixtures of the sandbox tests, loaded by every test_sandbox_*.py module through `pytest_plugins`
(tests/conftest.py serves the whole suite; these concern the sandbox alone). The test modules
import nothing from here: a plugin module imported before pytest loads it could not have its
asserts rewritten."""
from __future__ import annotations

import pytest

from pkt_core.sandbox import _policy
from tests.sandbox_modes import HERE, modes_and_layer_variants
from tests.sandbox_nonroot import NonrootRun, nonroot_skip_reason


@pytest.fixture(params=HERE)
def mode(request) -> str:
    return request.param


@pytest.fixture(params=modes_and_layer_variants())
def hostile_mode(request, monkeypatch) -> str:
    name = request.param
    if name.endswith("-noseccomp"):
        monkeypatch.setattr(_policy, "seccomp_filter",
                            lambda restrict_signals: (b"", "off for this test"))
        return name.removesuffix("-noseccomp")
    if "@abi" in name:
        monkeypatch.setattr(_policy, "LANDLOCK_ABI_CAP", int(name.split("@abi")[1]))
        return name.split("@")[0]
    return name


@pytest.fixture(scope="session")
def nonroot_run(request):
    """Session-scoped and used by every sandbox test module, so the re-run starts with the first
    sandbox test and runs alongside all of them."""
    wanted = any(item.name == "test_whole_suite_passes_as_an_unprivileged_user"
                 for item in request.session.items)
    run: NonrootRun | Exception | None = None
    if wanted and nonroot_skip_reason() is None:
        try:
            run = NonrootRun()
        except Exception as err:  # reported by its test, not as an error of every test using it
            run = err
    yield run
    if isinstance(run, NonrootRun):
        run.close()
