"""Reference tracking backend: Open311 GeoReport v2 on SQLite, with a ledger page (台账)."""
