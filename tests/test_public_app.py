"""The dashboard in public mode over HTTP, driven as a hostile visitor would (gradio_client)."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.app_server import TRANSFER_OUT, LabServer, micro_family, transfer_args


@pytest.fixture(scope="module")
def public_server(tmp_path_factory):
    family = micro_family(tmp_path_factory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PKT_PUBLIC", "1")
        with LabServer(family, tmp_path_factory.mktemp("public-app")) as srv:
            yield srv


@pytest.fixture(scope="module")
def visitor(public_server):
    return public_server.client()


def _refusal(call) -> str:
    with pytest.raises(Exception) as err:
        call()
    text = str(err.value)
    assert "Traceback" not in text and text.strip()
    return text


def test_the_page_says_what_public_mode_allows(public_server):
    with urllib.request.urlopen(public_server.url + "config", timeout=30) as response:
        config = response.read().decode()
    assert "Public mode" in config


def test_uploads_are_refused(public_server):
    boundary = "pktboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"config.json\"\r\nContent-Type: application/json\r\n\r\n{{}}\r\n"
            f"--{boundary}--\r\n").encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    request = urllib.request.Request(public_server.url + "gradio_api/upload", data=body,
                                     method="POST", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 403


def test_server_folders_can_be_neither_loaded_nor_probed(public_server, visitor):
    paths = (str(public_server.family / public_server.student), "/root", "/nonexistent")
    verdicts = []
    for path in paths:  # the pair check reports problems inline, in its verdict
        verdict = visitor.predict(public_server.teacher, path, api_name="/check_pair")[2]
        assert "cannot check this pair" in verdict and "public" in verdict
        verdicts.append(verdict.replace(path, "PATH"))
    assert len(set(verdicts)) == 1, verdicts
    args = transfer_args(public_server, "lora", student=paths[0])
    text = _refusal(lambda: visitor.predict(**args, api_name="/transfer"))
    assert "public" in text


def test_run_files_refuse_an_absolute_path(public_server, visitor):
    text = _refusal(lambda: visitor.predict(str(public_server.family / public_server.student),
                                            api_name="/run_files"))
    assert "not a saved run" in text


def test_a_runaway_transfer_is_refused_with_the_cap(public_server, visitor):
    args = transfer_args(public_server, "lora", epochs=1e6)
    text = _refusal(lambda: visitor.predict(**args, api_name="/transfer"))
    assert "public lab" in text


def test_one_visitor_cannot_queue_more_than_two_heavy_jobs(public_server, visitor):
    args = transfer_args(public_server, "lora", eval_limit=20, epochs=3)
    jobs = [visitor.submit(**args, api_name="/transfer") for _ in range(4)]
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(dict(zip(TRANSFER_OUT, job.result(timeout=600)))["status"])
        except Exception as err:  # noqa: BLE001 — the refusal arrives as the job's error
            outcomes.append(f"refused: {err}")
    refused = [o for o in outcomes if o.startswith("refused")]
    assert len(refused) >= 2 and all("job running and one waiting" in o for o in refused), outcomes
    assert any("finished" in o for o in outcomes), outcomes
    mine = visitor.predict(public_server.student, None, None, api_name="/runs")[0]["data"]
    assert "this session" in {row[0] for row in mine} and len(mine) == 2, "their own two runs"
    other = public_server.client().predict(public_server.student, None, None, api_name="/runs")[0]
    assert not other["data"], "another visitor sees none of them"
