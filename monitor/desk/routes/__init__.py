"""The desk's pages, one module per screen; each module's ``routes`` lists its URLs."""
