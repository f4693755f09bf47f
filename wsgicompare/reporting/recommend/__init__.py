"""``--recommend``: which deployment, configured how, for this app on this budget — and why
(issue #22). sweep.py: the grid of each backend's knobs and ``--sweep``; rule.py: the
ranking rule, a pure function of measured figures; run.py: probe → required scenarios →
confirmed capacity → memory → p99 at half → overload, per backend (each a run of the
conductor, judged by the scorecard's cells); report.py: the JSON ``recommendation`` and the
reports' first section. Its options and checks: settings/recommend_options.py; the CLI's
run with progress, a write per backend and Ctrl-C: front/recommend.py."""
