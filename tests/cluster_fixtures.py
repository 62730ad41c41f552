"""A real Ray cluster on this machine for the cluster-mode tests (issue #19): a head that runs no cameras and several
raylets (Ray's own `ray.cluster_utils.Cluster`, each raylet a separate process tree, as on separate machines), with
failure detection tightened from Ray's defaults (5 x 3 s) so a killed raylet is declared dead within about 2 s."""
from __future__ import annotations

import uuid

import pytest

FAST_HEALTH = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500, "health_check_failure_threshold": 3}


class LocalCluster:
    def __init__(self):
        import ray
        from ray.cluster_utils import Cluster

        self.cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 0, "include_dashboard": False, "_system_config": FAST_HEALTH})
        ray.init(address=self.cluster.address, namespace="vigil", log_to_driver=False)
        self.nodes = []

    def add(self, **resources):
        node = self.cluster.add_node(num_cpus=1, resources=resources)
        self.cluster.wait_for_nodes()
        self.nodes.append(node)
        return node

    def kill(self, node) -> None:
        self.cluster.remove_node(node, allow_graceful=False)
        self.nodes.remove(node)

    def node_name(self, node) -> str:
        return node.node_id[:12]

    def shutdown(self) -> None:
        import ray

        ray.shutdown()
        self.cluster.shutdown()


@pytest.fixture
def local_cluster():
    c = LocalCluster()
    yield c
    c.shutdown()


@pytest.fixture
def cluster_db():
    """A database of its own on the machine's PostgreSQL (dropped after)."""
    from vigil_fixtures import _pg_connect, ensure_postgres

    ensure_postgres()
    name = f"vigil_cluster_{uuid.uuid4().hex[:10]}"
    with _pg_connect() as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with _pg_connect() as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def crowd10(tmp_path_factory):
    """The street footage at 10 fps as Annex-B H.264, for the cluster's RTSP cameras."""
    from helpers import shared_path
    from vigil.streams.rtsp import annexb_from_video
    return annexb_from_video(shared_path("data", "video", "street_crowd.mp4"), tmp_path_factory.mktemp("annexb"), fps=10)
