"""What drives a run from outside: the headless progress lines and the browser front (--serve)."""
