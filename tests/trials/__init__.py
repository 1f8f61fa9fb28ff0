"""Long randomized, crash and load trials (marker `trial`): a short sample in `make test`, the full
size with TRIALS_FULL=1 (`make trials`)."""
