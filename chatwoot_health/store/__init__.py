"""The shared PostgreSQL store (issue #14): every probe host's runs in ``health_runs`` (monthly
partitions), and the one alert state of :mod:`chatwoot_health.notify.state_pg`.

:mod:`.db` connects and migrates; :mod:`.write` is ``check``'s write of a run (and the backlog);
:mod:`.runs` holds the reads (the quorum's peers, the report's aggregations in SQL) and the
partitions' pruning; :mod:`.send` is ``check``'s side of all this; :mod:`.outbox` remembers
locally the runs a host could not send. psycopg is imported only when a store is configured.
"""
