"""The Slack app manifest shipped in ``bot/staff/manifest.yaml`` matches what the app
uses: the /ar command, every request to /slack/events, the scopes and the events."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from bot.staff import ids


def manifest() -> dict[str, Any]:
    text = resources.files("bot.staff").joinpath("manifest.yaml").read_text()
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def test_the_manifest_declares_the_ar_command_at_slack_events() -> None:
    (command,) = manifest()["features"]["slash_commands"]
    assert command["command"] == ids.COMMAND
    assert command["url"].endswith("/slack/events")


def test_every_request_url_is_slack_events() -> None:
    settings = manifest()["settings"]
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")


def test_the_bot_has_the_scopes_the_app_uses() -> None:
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    # commands: /ar; chat:write: replies; files:write + im:write: the ATB CSV sent to a
    # DM (conversations.open, then the upload).
    assert {"commands", "chat:write", "files:write", "im:write"} <= scopes


def test_the_home_tab_is_on_and_its_event_subscribed() -> None:
    manifest_ = manifest()
    home = manifest_["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    assert home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is True
    assert "app_home_opened" in manifest_["settings"]["event_subscriptions"]["bot_events"]
