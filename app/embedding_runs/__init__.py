"""Dataset embedding runs: every item of a dataset embedded by one of the tenant's models, stored as arrays."""
