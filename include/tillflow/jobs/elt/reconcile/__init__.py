"""`tillflow elt reconcile`: an oracle for the POS sales marts.

It regenerates a window's scan events with the generator's own functions, prices them from the
price history (seeded prices plus the applied churn slots recorded in the OLTP database), sums
them per store and business day, and compares the warehouse's marts and serving view with those
sums to the cent. It never reads a warehouse table to compute what it expects.

- ``prices``: the price history (pure) and its read from the OLTP database;
- ``days``: the business-day rule (store-local or UTC calendar day), vectorised;
- ``expected``: regeneration, void resolution and the per-(store, day) sums, hour by hour;
- ``compare``: the warehouse's sums, the differences and their table.
"""
