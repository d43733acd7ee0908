"""Reports: the ledger's figures rendered for people (text), spreadsheets (CSV) and
integrations (JSON). Figures are computed in ``core.ledger``; this package only lays
them out. Amounts in CSV and JSON are plain decimal strings, never floats."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula."""


def cell(text: str) -> str:
    """A name or reference as a CSV cell a spreadsheet shows as text: one starting like
    a formula (``=HYPERLINK(...)``, ``@SUM(...)``) gets a leading apostrophe. Amounts
    are not passed through here (``-100.00`` is a number)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
