"""Runtime: tokenize and predict, the prediction cache, and the session that builds everything once."""
