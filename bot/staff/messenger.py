"""The staff messenger port over Slack: the patient bot and the scheduler post to staff
channels through it (core.ports.StaffMessenger)."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from core.ports import StaffFile, StaffPost


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

    async def upload(self, file: StaffFile) -> str:
        """Share ``file`` (Slack's v2 upload: an upload URL, the bytes, then completing
        the upload into the channel) and return the file's id."""
        response = await self.client.files_upload_v2(
            channel=file.channel,
            content=file.content,
            filename=file.filename,
            title=file.title,
            initial_comment=file.comment,
            thread_ts=file.thread,
        )
        return str(response["file"]["id"])
