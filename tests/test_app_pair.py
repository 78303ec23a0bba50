"""The Pair tab over HTTP: the cards, the verdict and the preset pairs."""
from __future__ import annotations

pytest_plugins = ["tests.app_server"]  # the shared server: `server`, `client`, `my_runs`


def test_pair_check_shows_cards_verdict_and_presets(client, server):
    t_card, s_card, verdict = client.predict(server.teacher, server.student, api_name="/check_pair")
    assert "layers" in t_card and "parameters" in s_card and server.teacher in t_card
    assert "✅ compatible" in verdict and "incompatible" not in verdict
    assert "LaTen (PrePKT) ✓" in verdict and "Seeking (PostPKT) ✓" in verdict
    teacher, student = client.predict("embedded", api_name="/preset_pair")
    assert (teacher, student) == (server.teacher, server.student)
    # a preset hub pair is offered, and offline it says so inline instead of failing
    _, _, verdict = client.predict("HuggingFaceTB/SmolLM2-360M-Instruct", server.student,
                                   api_name="/check_pair")
    assert "not available offline" in verdict
    _, _, verdict = client.predict(server.student, server.teacher, api_name="/check_pair")
    assert "❌ incompatible" in verdict and "deeper" in verdict and "✅" not in verdict
