"""The access log never carries a pay link's token (a token is as good as the link)."""

from __future__ import annotations

from bot.accesslog import masked


def test_pay_tokens_are_masked_and_other_paths_kept() -> None:
    assert masked("/pay/Ab3_-xyz") == "/pay/***"
    assert masked("/pay/test/c2Vzc2lvbg.sig") == "/pay/***"
    assert masked("/pay/done") == "/pay/done"
    assert masked("/pay/cancelled") == "/pay/cancelled"
    assert masked("/healthz") == "/healthz"
    assert masked("/slack/events") == "/slack/events"
