"""Models: every source ends as a plain Hugging Face model directory and a ModelSpec."""
