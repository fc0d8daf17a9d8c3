"""Topics: the rule language, matching, the learned model, evaluation and review."""
