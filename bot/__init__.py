"""The chat side of arbot and its composition root.

``bot.patient`` is the patient conversation and its channels (Telegram, SMS,
console); ``bot.staff`` is the Slack app; ``bot.web`` mounts every webhook on one
aiohttp app; ``bot.cli`` is the ``arbot`` command. Only here are adapters wired to
the ports that ``core`` and ``scheduler`` define.
"""
