"""The gate spread over N runners: the plan (:mod:`.plan`), and the merge of the shards' results
(:mod:`.merge`)."""
