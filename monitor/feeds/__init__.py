"""Feeds: parsing bytes into entries, OPML, and a feed's health after a poll."""
