"""Where the database comes from: DATABASE_URL, or else Jangkau's private cluster."""

from __future__ import annotations

from geo import cluster
from geo.settings import Settings


def private_cluster(settings: Settings) -> cluster.Cluster:
    return cluster.Cluster(settings.home / "pgdata", settings.cluster_port)


def ensure_database(settings: Settings) -> str:
    """The URL to use, starting the private cluster first when no DATABASE_URL is set."""
    if not settings.database_url:
        cluster.start(private_cluster(settings))
    return settings.resolved_database_url()
