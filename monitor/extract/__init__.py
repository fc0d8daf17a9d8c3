"""Article text extraction from fetched pages."""
