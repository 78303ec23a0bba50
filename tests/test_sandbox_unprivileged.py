"""Every sandbox test module re-run as uid 65534, which is what a Hugging Face Space is: the tests
must hold as root (CI) and as an ordinary user. The re-run starts with the first sandbox test
(`nonroot_run` in tests/sandbox_fixtures.py; tests/sandbox_nonroot.py runs it); this waits for
its outcome."""
from __future__ import annotations

import pytest

from tests.sandbox_nonroot import nonroot_skip_reason

pytest_plugins = ["tests.sandbox_fixtures"]


def test_whole_suite_passes_as_an_unprivileged_user(nonroot_run):
    reason = nonroot_skip_reason()
    if reason:
        pytest.skip(reason)
    if isinstance(nonroot_run, Exception):
        raise nonroot_run
    code, output = nonroot_run.result(timeout=300)
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    assert code == 0 and " passed" in summary, output[-8000:]
