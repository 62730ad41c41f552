"""The `cluster:` section of the YAML (issue #19): where the Ray cluster is and how the maintainer moves cameras.
Validated like the rest of vigil/config.py (unknown keys rejected, every field titled and described)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field as F


class ClusterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    address: str | None = F(None, title="Ray address", description="The Ray cluster's head, e.g. '10.0.0.5:6379' or 'auto'; null: one box, no Ray (the default). `vigil serve --cluster ADDRESS` sets it.", min_length=1, max_length=200)
    tick_s: float = F(1.0, title="Tick (s)", description="How often the maintainer reads the nodes, heartbeats and places cameras.", ge=0.2, le=30)
    hysteresis: float = F(0.15, title="Rebalance hysteresis", description="Cameras move to a joining or emptier node only while the load shares (load / capacity) of the fullest and emptiest node differ by more than this: no flapping.", ge=0, le=1)
    max_moves: int = F(20, title="Moves per tick", description="At most this many cameras move per tick when rebalancing (a lost node's cameras always move at once).", ge=1, le=10000)
    heartbeat_wait_s: float = F(0.5, title="Heartbeat wait (s)", description="How long a tick waits for the workers' heartbeats; a slower worker keeps its cameras and answers on a later tick.", gt=0, le=10)
    report_s: float = F(2.0, title="Report interval (s)", description="How often nodes, camera holders and lag are written to the database (`vigil cluster status`, /metrics).", ge=0.5, le=60)
    evidence_copy_s: float | None = F(5.0, title="Evidence copy interval (s)", description="How often the maintainer copies the nodes' new snapshots and ready clips to the head (storage.data_dir/media/nodes/...), so a node lost later loses none of them; null: never (each node keeps its own only, e.g. when storage.data_dir is shared storage).", ge=1, le=3600)
    inference: Literal["local", "serve"] = F("local", title="Inference", description="local: each camera node runs the object model itself; serve: one Ray Serve deployment runs it for every node, batching frames across cameras (camera nodes only decode; the fire model stays on them).")
    serve_replicas: int = F(1, title="Inference replicas", description="Copies of the Serve detector (inference: serve).", ge=1, le=64)
    serve_gpus: float = F(0.0, title="GPUs per replica", description="GPUs each Serve replica claims (0: CPU); a replica then runs on a node with a GPU.", ge=0, le=8)
    jpeg_quality: int = F(80, title="Frame JPEG quality", description="Frames cross the wire to the Serve detector as JPEG at the model's input size, at this quality.", ge=30, le=100)
