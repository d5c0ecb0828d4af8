"""Accuracy: metrics, the statistics behind the error bars, bounds, evaluation and checks."""
