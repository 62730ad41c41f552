"""The Ray side of cluster mode: which nodes declared room for cameras, and the actors (a worker pinned to each node,
one detached maintainer). Ray is imported here only, and only in cluster mode: the one-box service never loads it.

A node declares its capacity in camera units with a custom resource when it joins:
    ray start --address HEAD:6379 --resources '{"vigil_cameras": 24}'
A raylet may also stand for several nodes (`vigil_node_<name>`: capacity), which the county-scale control-plane test
uses to let a few raylets on one machine stand for 50 nodes; losing the raylet loses all of them at once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NAMESPACE = "vigil"
MAINTAINER = "vigil-cluster-maintainer"
CAPACITY = "vigil_cameras"
VIRTUAL = "vigil_node_"


@dataclass(frozen=True)
class DeclaredNode:
    name: str
    ray_node_id: str
    address: str
    capacity: float
    alive: bool
    resource: str  # the custom resource that declared it


def declared_nodes(ray_nodes: list[dict[str, Any]]) -> list[DeclaredNode]:
    """`ray.nodes()` -> the nodes that declared room for cameras, dead ones included (alive False)."""
    out: dict[str, DeclaredNode] = {}
    for n in ray_nodes:
        res = n.get("Resources") or {}
        for key, value in res.items():
            if key == CAPACITY:
                name = n["NodeID"][:12]
            elif key.startswith(VIRTUAL):
                name = key[len(VIRTUAL):]
            else:
                continue
            node = DeclaredNode(name, n["NodeID"], n.get("NodeManagerAddress", ""), float(value), bool(n.get("Alive")), key)
            if name not in out or (node.alive and not out[name].alive):  # a name reused by a new raylet: the live one
                out[name] = node
    return sorted(out.values(), key=lambda d: d.name)


def connect(address: str) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, include_dashboard=False)


_worker_cls = None


def worker_actor(node: DeclaredNode, cfg: dict, *, standin: bool):
    """The node's worker (created, or the running one if a restarted maintainer finds it), pinned to its raylet."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    global _worker_cls
    if _worker_cls is None:  # exported to the cluster once, not per node
        from vigil.cluster.worker import CameraNodeWorker
        _worker_cls = ray.remote(CameraNodeWorker)
    return _worker_cls.options(name=f"vigil-worker-{node.name}", namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
                       num_cpus=0, max_concurrency=8, max_restarts=0,
                       scheduling_strategy=NodeAffinitySchedulingStrategy(node.ray_node_id, soft=False),
                       ).remote(cfg, node.name, standin=standin)


def maintainer_actor(cfg: dict, **options):
    """The cluster's one maintainer: a detached actor on the head node, restarted by Ray if its process dies (it
    takes the holders back from the database). A second API process gets the running one."""
    import ray

    from vigil.cluster.maintainer import ClusterMaintainer

    cls = ray.remote(ClusterMaintainer)
    # on the head node (it goes down with the cluster's GCS anyway): never on a camera node that may be lost
    return cls.options(name=MAINTAINER, namespace=NAMESPACE, get_if_exists=True, lifetime="detached", num_cpus=0,
                       resources={"node:__internal_head__": 0.001},
                       max_concurrency=4, max_restarts=-1).remote(cfg, **options)


def actor_died(exc: BaseException) -> bool:
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    return isinstance(exc, (RayActorError, ActorDiedError)) and not isinstance(exc, ActorUnavailableError)


def start_cluster_mode(cfg):
    """What `vigil serve --cluster ADDRESS` runs before the API: connect to Ray, run the control side of the service
    here (inventory, notifications, ledger; no cameras) and make sure the cluster's one maintainer runs (a second
    API process finds it). Returns the control Runtime. The maintainer outlives this process: stopping one API
    process stops no camera."""
    from vigil.service import Runtime

    connect(cfg.cluster.address)
    rt = Runtime(cfg, role="control")
    rt.store.fetch = fetch_media
    from vigil.cluster.live_proxy import NodeFeed
    rt.feed = NodeFeed(rt, call_node)  # live view: asked of the node holding the camera
    rt.cluster_maintainer = maintainer_actor(cfg.model_dump())
    return rt


def fetch_media(node: str, rel: str, timeout_s: float = 30.0) -> bytes | None:
    """A snapshot or clip from the node that recorded it (the API's EventStore.fetch in cluster mode); when that
    node does not answer (gone), the copy the maintainer's EvidenceCollector made on the head."""
    import ray

    try:
        return ray.get(ray.get_actor(f"vigil-worker-{node}", namespace=NAMESPACE).media.remote(rel), timeout=timeout_s)
    except Exception:  # noqa: BLE001 - the node or its worker is gone
        got = ray.get(ray.get_actor(MAINTAINER, namespace=NAMESPACE).media.remote(node, rel), timeout=timeout_s)
        if got is None:
            raise
        return got


_workers: dict[str, Any] = {}


def call_node(node: str, method: str, args: tuple, kwargs: dict, timeout_s: float) -> dict:
    """One live-view call to a node's worker (NodeFeed's transport); the handle is kept until a call fails."""
    import ray

    handle = _workers.get(node)
    if handle is None:
        handle = _workers[node] = ray.get_actor(f"vigil-worker-{node}", namespace=NAMESPACE)
    try:
        return ray.get(handle.live.remote(method, *args, **kwargs), timeout=timeout_s)
    except Exception:
        _workers.pop(node, None)  # a restarted node has a new worker under the same name
        raise


def stop_maintainer(maint, timeout_s: float = 60.0) -> None:
    """Stop the cluster's maintainer and its workers, then remove the actor (Ray would restart a detached one)."""
    import ray

    try:
        ray.get(maint.stop.remote(), timeout=timeout_s)
    finally:
        ray.kill(maint)


def stop_cluster_mode(rt) -> None:
    """Undo start_cluster_mode: the maintainer (with the cameras on every node), then the control Runtime. A served
    API stops only itself (the cameras keep running); tests and benchmarks stop the whole cluster mode with this."""
    try:
        stop_maintainer(rt.cluster_maintainer)
    finally:
        rt.stop()
