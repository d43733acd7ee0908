"""The staff side: a Slack app (slack-bolt) answering ``/ar <subcommand>``.

Slack sends each slash command and button press as a signed HTTP request (or over a
Socket Mode websocket). The app acknowledges it at once, maps the Slack user to an
arbot staff user, reads the command into a typed value (``parse``), asks ``core``
to do the work (core checks the permissions) and answers with a message rendered
from ``templates/slack/``. Buttons carry ids only; anything with money in it is read
again on the server when the button is pressed.

Modules: ``app`` builds the bolt app and its transports, ``services`` is what
listeners are given, ``commands`` and ``actions`` register the listeners, ``turn``
is what every listener shares (ack, staff lookup, errors, replies), ``parse`` reads
commands, ``lookup``, ``money`` and ``reports`` carry out the subcommands,
``pending`` holds payments awaiting confirmation, ``render`` turns templates into
Slack messages, ``ids`` names the action ids.
"""
