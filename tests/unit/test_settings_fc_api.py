"""`ROLEPACT_FC_API` picks the Function Compute API; a wrong value stops every invocation at start."""
from __future__ import annotations

import json

import pytest

from shared.settings import ENVIRONMENT_VARIABLES, Settings


def test_fc2_is_the_default_and_fc3_is_accepted():
    assert Settings.from_env({}).fc_api == "fc2"
    assert Settings.from_env({"ROLEPACT_FC_API": ""}).fc_api == "fc2"
    assert Settings.from_env({"ROLEPACT_FC_API": "fc3"}).fc_api == "fc3"
    assert "ROLEPACT_FC_API" in ENVIRONMENT_VARIABLES


@pytest.mark.parametrize("value", ["FC3", "fc", "3", "fc2,fc3"])
def test_anything_else_fails_with_a_clear_message(value):
    with pytest.raises(ValueError, match=r"ROLEPACT_FC_API: .* use 'fc2' .* or 'fc3'"):
        Settings.from_env({"ROLEPACT_FC_API": value})


def test_a_handler_with_a_wrong_value_fails_before_touching_the_cloud(monkeypatch):
    from functions.expiry_enforcer import handler
    from shared.runtime import reset_settings

    monkeypatch.setenv("ROLEPACT_FC_API", "fc4")
    monkeypatch.setenv("ROLEPACT_ACCOUNT_ID", "1234567890123456")
    reset_settings(None)
    try:
        with pytest.raises(ValueError, match="ROLEPACT_FC_API: 'fc4'"):
            handler(json.dumps({"triggerTime": "2027-01-01T00:00:00Z"}).encode(), None)
    finally:
        reset_settings(None)
