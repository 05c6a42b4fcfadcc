"""Database access: engine, tenant-scoped transactions, migrations and the embedded server."""
