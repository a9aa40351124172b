"""CLI edge cases a user hits first: missing credentials, negative relative times."""
from __future__ import annotations

import pytest

from shared import cli

NO_CREDENTIALS = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN")


@pytest.fixture
def bare_env(monkeypatch):
    for name in NO_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROLEPACT_ACCOUNT_ID", "1234567890123456")


def test_revoke_without_credentials_is_a_clear_exit_2(bare_env, capsys):
    assert cli.main(["revoke", "--partner", "1345678901234567"]) == 2
    err = capsys.readouterr().err
    assert "rolepact revoke:" in err and "Traceback" not in err


def test_report_takes_a_negative_relative_time_as_written(bare_env, capsys):
    code = cli.main(["report", "--since", "-24h"])
    err = capsys.readouterr().err
    assert "expected one argument" not in err  # argparse accepted `-24h` as the value
    assert code == 2 and "rolepact report" in err  # and it failed only for want of credentials
