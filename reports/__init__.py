"""Turn results.json files into outputs (HTML report, JUnit XML, diffs). Reads results only."""
