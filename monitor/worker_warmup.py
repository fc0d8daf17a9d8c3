"""Imported by the worker pool's forkserver only, never by the main process.

It loads what every extraction worker needs - trafilatura, spaCy's blank pipeline and
the language-identification model (about 75 MB) - once, before the workers are forked,
so they share those pages instead of each loading a copy of its own.
"""

from monitor.classify import pipeline
from monitor.extract import detect_language

detect_language("The language identification model is loaded once, in the forkserver.")
pipeline("en")
