"""Patients in chat: what the core keeps so the patient bot can talk to people safely.

The bot (``bot/patient``) speaks Telegram, SMS and a console; this package holds the
channel-agnostic facts underneath, keyed by channel and address (a Telegram chat id,
an SMS number in E.164):

- ``identity``: who the person in a chat is allowed to see. Nothing about an account
  is disclosed until the person gives the account holder's date of birth; five wrong
  answers lock the chat for 30 minutes (AR-131). A guarantor sees every account they
  guarantee.
- ``chatstate``: where each conversation stands, in the database, so that a restart
  or a second web process carries on where the last message left it.
- ``inbox``: each inbound event (Telegram update, Twilio message, Stripe event) is
  claimed once, so a provider's redelivery does nothing twice.
- ``outbox``: each message is recorded with its dedupe key before it is sent and its
  outcome after, so nothing is sent twice and failures reach the delivery report
  (AR-179). The text itself is never stored: it can hold balances.
"""
