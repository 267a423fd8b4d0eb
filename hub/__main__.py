"""``python -m hub``: the same CLI as the ``hub`` script (used by ``hub worker`` to start its
supervised Celery worker with the same interpreter)."""

from hub.cli import main

main()
