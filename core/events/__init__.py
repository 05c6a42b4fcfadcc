"""Domain events: the catalog, the in-process bus and the LISTEN relay that feeds it from the outbox."""
