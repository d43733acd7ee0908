"""``/ar link <account>``: a one-time code that links a patient's chat to the account.

The code is shown once, only to the staff member who asked (ephemeral), with when it
stops working; with ``TELEGRAM_BOT_USERNAME`` set, also as the Telegram deep link
that sends it to the patient bot in one tap.
"""

from __future__ import annotations

from urllib.parse import quote

from bot.staff.lookup import account_by_number
from bot.staff.parse import Link
from bot.staff.turn import Turn
from core.auth import Actor
from core.links import issue_link_code


async def link(turn: Turn, staff: Actor, cmd: Link) -> None:
    async with turn.db.read() as conn:
        account = await account_by_number(conn, cmd.account)
    issued = await issue_link_code(turn.db, staff, account_id=account.id)
    username = turn.services.settings.telegram_bot_username.strip().lstrip("@")
    deep_link = f"https://t.me/{quote(username)}?start={issued.code}" if username else None
    await turn.reply("link", account=account, issued=issued, deep_link=deep_link)
