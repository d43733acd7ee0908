"""Timed jobs over the A/R core: reminders and dunning, statements, plan instalments,
digests and small-balance write-offs. Each run is claimed once in the database; jobs
take the time from a clock and send through the ports they are given."""
