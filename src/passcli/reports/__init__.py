"""Reports (SPEC §10): what a message or journey did, from the ledger and the journey tables.

- attribution.py: the SQL that attributes conversions and unsubscribes to a delivery;
- message.py: the typed report, read in one snapshot of the store; outcomes.py its counts;
- documents.py: their JSON documents; csv.py: their CSV; html.py and svg.py: the HTML page.

Everything is computed at report time from what the store already holds; nothing here writes.
"""
