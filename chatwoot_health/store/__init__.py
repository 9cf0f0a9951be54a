"""The shared PostgreSQL store (issue #14): every probe host's runs in ``health_runs`` (monthly
partitions), and the one alert state of :mod:`chatwoot_health.notify.state_pg`.

:mod:`.db` connects and migrates, :mod:`.runs` holds all of the runs' SQL (write, read, the
aggregations, the partitions' pruning), :mod:`.outbox` remembers locally the runs a host could not
send. psycopg is imported only when a store is configured.
"""
