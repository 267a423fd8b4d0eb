"""Message lifecycle, lanes, retry policy, workers (embedded and Celery) and the sweeper."""
