"""The run engine: run specs, the conductor, the capacity search, the scenarios, the
server's sampling, the kernel's counters and the verdicts."""
