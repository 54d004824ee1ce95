"""One module per resource: validation beyond the schema, transactions, and response building."""
