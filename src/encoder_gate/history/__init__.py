"""History across commits: a store of one small JSON record per commit of the default branch
(:mod:`.store`), and the creep no single PR gate sees (:mod:`.creep`)."""
