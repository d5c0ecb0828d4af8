"""Data: labelled datasets, the bundled data, label sets and hypothesis strategies."""
