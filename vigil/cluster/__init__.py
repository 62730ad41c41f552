"""Cluster mode (issue #19): a county's cameras over a Ray cluster, with failover.

- `placement`: which node runs each camera (plain logic: sticky, capacity-bound, hysteresis);
- `maintainer.ClusterMaintainer`: the one loop (a detached Ray actor on the head) that reads the nodes, heartbeats
  their workers, places cameras and records nodes, holders and moves in PostgreSQL;
- `worker.CameraNodeWorker`: one per node (a Ray actor pinned to it) running its cameras in a `cameras`-role Runtime;
- `ray_backend`: the only module that imports Ray (the one-box service never does);
- `report`: what `vigil cluster status` and /metrics read back from the database."""
