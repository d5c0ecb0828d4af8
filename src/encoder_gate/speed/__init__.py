"""Speed: benchmark plans, timing, statistics and the speed gate."""
