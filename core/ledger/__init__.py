"""The double-entry ledger: the only code in arbot that writes money.

A *journal entry* records one business event (a charge, a payment, a write-off) as
lines on accounts of the chart; the lines always sum to zero, so money is never
created or lost, only moved. Lines on the A/R control account name the customer
account they concern: the sum of those lines per customer is that customer's
balance (the *subledger*), and it always equals the control account (AR-127).

Each such line is also an *A/R item*. A charge is an *open item* until payments and
credits matched to it (*allocations*) bring it to zero; a payment that is not matched
yet is *unapplied cash* on the account. *Aging* sorts what is still open by how old it
is, as of any date, from these rows alone: nothing about age is stored.
"""
