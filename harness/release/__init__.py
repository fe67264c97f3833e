"""Releasing: the model registry, recording gate decisions, the rollback procedure, hooks, notices, the log."""
