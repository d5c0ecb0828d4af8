"""The results documents, built from what a session measured and decided (below what renders them)."""
