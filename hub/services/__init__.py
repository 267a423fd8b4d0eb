"""Use cases: ingest, process, deliver, replay, query. Entry points call these only."""
