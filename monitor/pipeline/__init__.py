"""The polling cycle: claim, poll, process, commit, alert; the worker pools."""
