"""Fetching: polite, bounded, conditional HTTP, guarded against private addresses."""
