"""The staff messenger port over Slack: the patient bot and the scheduler post to staff
channels through it (core.ports.StaffMessenger)."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from core.ports import StaffPost


class SlackStaffMessenger:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def post(self, message: StaffPost) -> str:
        """Post (in a thread when ``message.thread``) and return the message's ``ts``."""
        response = await self.client.chat_postMessage(
            channel=message.channel,
            text=message.text,
            thread_ts=message.thread,
            blocks=[dict(b) for b in message.blocks] or None,
            unfurl_links=False,
        )
        return str(response["ts"])
