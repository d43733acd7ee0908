"""The Slack app manifest shipped in ``bot/staff/manifest.yaml`` matches what the app
uses: the /ar command, every request to /slack/events, the scopes and the events."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
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


SCOPES_OF = {
    "chat_postMessage": {"chat:write", "chat:write.public"},  # public: channels not joined
    "chat_postEphemeral": {"chat:write"},
    "chat_update": {"chat:write"},
    "conversations_history": {"channels:history", "groups:history"},  # approval messages
    "conversations_open": {"im:write"},  # the ATB CSV goes to a direct message
    "files_upload_v2": {"files:write"},
    "views_open": set(),
    "views_update": set(),
    "views_publish": set(),
}
"""Web API methods the app calls -> the bot scopes they need."""


def test_the_bot_has_the_scopes_of_every_web_api_method_the_app_calls() -> None:
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    source = "\n".join(p.read_text() for p in Path("bot").rglob("*.py"))
    called = set(
        re.findall(r"\.((?:chat|conversations|files|views|users|reactions)_\w+)\(", source)
    )
    assert called, "the app calls no Web API method: the search is wrong"
    assert called <= set(SCOPES_OF), f"add the scopes of {called - set(SCOPES_OF)} here"
    needed = {"commands"}.union(*(SCOPES_OF[m] for m in called))
    assert needed <= scopes, f"the manifest lacks {needed - scopes}"


def test_the_usage_hint_names_every_subcommand() -> None:
    hint = manifest()["features"]["slash_commands"][0]["usage_hint"]
    for word in ("help", "find", "account", "charge", "payment", "writeoff", "refund",
                 "unapplied", "link", "atb"):  # fmt: skip
        assert word in hint


def test_the_home_tab_is_on_and_its_event_subscribed() -> None:
    manifest_ = manifest()
    home = manifest_["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    assert home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is True
    assert "app_home_opened" in manifest_["settings"]["event_subscriptions"]["bot_events"]
