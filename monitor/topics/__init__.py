"""Topics: the rule language, matching, the learned model, evaluation and review."""

from monitor.topics import spacy_cli

spacy_cli.install()  # spaCy, imported by monitor.topics.text, without its command line
