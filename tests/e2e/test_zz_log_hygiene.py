"""Runs last (files run in name order): no plaintext, data key or secret key in any log.

The `keyward` fixture repeats this scan after every server has shut down, so lines logged
during shutdown are covered too.
"""

from conftest import LISTENING_RE


def test_no_plaintext_or_secret_in_server_logs(keyward, server, sensitive):
    sensitive.add("student")  # the seed lab's plaintext, even when only this file runs
    assert keyward.started, "no server was started"
    for srv in keyward.started:
        text = srv.log_text()
        assert LISTENING_RE.search(text), f"{srv.log_path} has no 'listening on' line"
        leaks = sensitive.found_in(text)
        assert not leaks, f"{srv.log_path} shows {leaks}"
