"""Delivery: transports, the delivery ledger, leases, dispatching one occurrence."""
