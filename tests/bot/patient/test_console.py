"""The console channel (issue 5: "a local console (``arbot chat --phone +15551234567``)
for trying it without any account"): lines in as SMS from that phone, replies out as
an SMS shows them."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.patient.console import run_console
from tests.bot.patient.conftest import PAY_URL, Echo

KEYED = ("TELEGRAM_", "TWILIO_", "STRIPE_", "SLACK_", "PUBLIC_BASE_URL")


async def test_each_line_is_an_sms_from_the_phone_and_replies_show_numbered_options() -> None:
    echo = Echo()
    out = io.StringIO()

    sent = await run_console(echo, "+1 (555) 123-4567", io.StringIO("hello\n\n  two  \n"), out)

    assert sent == 2
    assert [(i.channel, i.address, i.text) for i in echo.seen] == [
        ("sms", "+15551234567", "hello"),
        ("sms", "+15551234567", "two"),
    ]
    assert out.getvalue() == (
        f"You said: hello\n\n1) Yes\n2) Pay now: {PAY_URL}\n\n"
        "First.\n\n"
        f"You said: two\n\n1) Yes\n2) Pay now: {PAY_URL}\n\n"
    )


async def test_interactive_use_greets_and_prompts() -> None:
    out = io.StringIO()

    await run_console(Echo(), "+15551234567", io.StringIO("hi\n"), out, interactive=True)

    assert out.getvalue().startswith("Chatting as +15551234567 over SMS. Ctrl-D leaves.\n> ")
    assert out.getvalue().endswith("> \n")


def test_arbot_chat_refuses_a_phone_that_is_not_a_number(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["chat", "--phone", "call me"])

    assert code == 2
    assert "is not a phone number in international form" in capsys.readouterr().err


def test_arbot_chat_talks_to_the_real_conversation_without_any_keys(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """``arbot chat`` as an operator runs it: no Telegram, Twilio or Stripe settings, the
    conversation on DATABASE_URL, its state stored for the phone on the sms channel."""
    path = tmp_path / "arbot.db"
    shutil.copy(sqlite_template, path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(KEYED)}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{path}"

    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--phone", "+15551234567"],
        input="hello\nhelp\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    replies = [r for r in done.stdout.split("\n\n") if r.strip()]
    assert len(replies) >= 2
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT channel, address FROM chat_state").fetchall()
    assert rows == [("sms", "+15551234567")]
