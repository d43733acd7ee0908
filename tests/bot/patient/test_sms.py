"""SMS through Twilio (issue 5, SMS channel; Robustness): inbound texts POSTed to
``/sms/inbound`` signed as Twilio signs them against PUBLIC_BASE_URL, replies sent
through the fake Twilio REST API with the options as numbered lines."""

from __future__ import annotations

from tests.bot.patient.conftest import PAY_URL, PUBLIC_URL, Echo, StartApp
from tests.fakes.twilio import FROM_NUMBER, inbound_form, signed_headers

PATIENT = "+15551234567"
SIGNED_URL = f"{PUBLIC_URL}/sms/inbound"


async def test_a_signed_text_is_answered_by_sms_with_numbered_options(
    patient_app: StartApp,
) -> None:
    echo = Echo()
    app = await patient_app(echo)

    response = await app.text(PATIENT, "hello")

    assert response.status == 200
    assert response.content_type == "text/xml"
    assert (await response.text()).endswith("<Response/>")
    assert [(i.channel, i.address, i.text) for i in echo.seen] == [("sms", PATIENT, "hello")]
    [sms] = app.twilio.messages
    assert (sms.to, sms.from_) == (PATIENT, FROM_NUMBER)
    assert sms.body == f"You said: hello\n\n1) Yes\n2) Pay now: {PAY_URL}"
    [row] = await app.outbox()
    assert (row.channel, row.address, row.status, row.provider_ref) == (
        "sms",
        PATIENT,
        "sent",
        sms.sid,
    )


async def test_a_forged_or_missing_signature_is_refused_and_nothing_happens(
    patient_app: StartApp,
) -> None:
    """Robustness: unverified webhooks get 403 and change nothing."""
    echo = Echo()
    app = await patient_app(echo)
    form = inbound_form(PATIENT, "balance")

    missing = await app.sms(form, headers={})
    forged = await app.sms(form, headers=signed_headers(SIGNED_URL, form, token="not-the-token"))
    tampered = await app.sms({**form, "Body": "pay"}, headers=signed_headers(SIGNED_URL, form))

    assert (missing.status, forged.status, tampered.status) == (403, 403, 403)
    assert echo.seen == []
    assert app.twilio.attempts == []
    assert await app.outbox() == []


async def test_the_signature_is_checked_against_the_public_url_not_the_request_url(
    patient_app: StartApp,
) -> None:
    """Behind a proxy the request arrives on another URL: Twilio signed the public one."""
    echo = Echo()
    app = await patient_app(echo)
    form = inbound_form(PATIENT, "hello")
    local = str(app.http.make_url("/sms/inbound"))

    response = await app.sms(form, headers=signed_headers(local, form))

    assert response.status == 403
    assert echo.seen == []


async def test_the_same_message_sid_twice_is_answered_once(patient_app: StartApp) -> None:
    """Robustness: Twilio's MessageSid is claimed once."""
    echo = Echo()
    app = await patient_app(echo)
    form = inbound_form(PATIENT, "hello")

    first = await app.sms(form)
    again = await app.sms(form)

    assert (first.status, again.status) == (200, 200)
    assert len(echo.seen) == 1
    assert len(app.twilio.messages) == 1


async def test_a_number_or_a_keyword_is_passed_as_typed(patient_app: StartApp) -> None:
    """The conversation resolves '2' against the options it offered; STOP is its to honour."""
    echo = Echo()
    app = await patient_app(echo)

    await app.text(PATIENT, "2")
    await app.text(PATIENT, "STOP")

    assert [(i.text, i.choice) for i in echo.seen] == [("2", None), ("STOP", None)]


async def test_a_reply_to_a_number_twilio_refuses_is_recorded_as_failed(
    patient_app: StartApp,
) -> None:
    """AR-179: an invalid number is recorded, and the webhook still answers Twilio."""
    app = await patient_app(Echo())
    app.twilio.fail_number(PATIENT, 21211)

    response = await app.text(PATIENT, "hello")

    assert response.status == 200
    [row] = await app.outbox()
    assert (row.status, row.failure) == ("failed", "invalid_address")
    assert row.detail.startswith("21211:")


async def test_sms_is_not_served_without_a_public_url(patient_app: StartApp) -> None:
    """Twilio signs the public URL: without PUBLIC_BASE_URL there is nothing to check
    against, so the webhook is not mounted (sending still works)."""
    app = await patient_app(Echo(), public_base_url="")

    response = await app.text(PATIENT, "hello")

    assert response.status == 404
    assert "sms" in app.ctx.messengers
