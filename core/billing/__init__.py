"""Billing: how money gets into A/R correctly.

A *service* in the catalogue has a list price, a category that names its revenue
account and, for materials and medication, the stock item it uses. When a visit's
lines are charged, each line is priced (a location's price list, then the most
specific pricing rule: a patient's own deal, a payer's negotiated price, a financial
class discount, a promotion), split between the payers who owe it, and posted as one
journal entry with one open item per payer; the stock it used leaves the shelf in the
same transaction, and a prepayment held for the service is used up against it.
"""
