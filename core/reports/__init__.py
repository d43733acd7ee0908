"""Reports: the ledger's figures rendered for people (text), spreadsheets (CSV) and
integrations (JSON). Figures are computed in ``core.ledger``; this package only lays
them out. Amounts in CSV and JSON are plain decimal strings, never floats."""
