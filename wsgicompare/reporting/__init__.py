"""What a run leaves: the exports (md, csv, json, html, hdr, knee), the scorecard, baselines,
thresholds, and the reader of saved reports."""
