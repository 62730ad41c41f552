"""Camera placement for cluster mode (issue #19): plain logic, no Ray."""
from __future__ import annotations

import time

from vigil.cluster.placement import Node, place


def county(n_cams: int = 1500, n_nodes: int = 50, capacity: float = 40.0):
    cams = {f"cam{i:04d}": (2.0 if i % 10 == 0 else 1.0) for i in range(n_cams)}  # every tenth: a 2 Hz fire camera
    nodes = [Node(f"node{j:02d}", capacity) for j in range(n_nodes)]
    return cams, nodes


def loads(p, cams, nodes):
    ld = p.load(cams)
    return {n.id: ld.get(n.id, 0.0) for n in nodes if n.alive}


def test_county_scale_assignment_is_complete_within_capacity_and_even():
    cams, nodes = county()
    t0 = time.perf_counter()
    p = place(cams, nodes)
    took = time.perf_counter() - t0
    assert set(p.assignment) == set(cams) and not p.unplaced
    ld = loads(p, cams, nodes)
    assert all(ld[n.id] <= n.capacity for n in nodes)
    assert max(ld.values()) - min(ld.values()) <= 2.0  # even to within one fire camera
    assert {m.reason for m in p.moves} == {"new camera"} and len(p.moves) == len(cams)
    assert took < 5.0, took  # a generous bound; the figure itself is reported by the control-plane benchmark


def test_same_inputs_move_nothing():
    cams, nodes = county(300, 10)
    first = place(cams, nodes)
    again = place(cams, nodes, first.assignment)
    assert again.moves == [] and again.assignment == first.assignment


def test_a_lost_node_moves_only_its_cameras():
    cams, nodes = county(300, 10, 40.0)
    before = place(cams, nodes).assignment
    nodes[3] = Node(nodes[3].id, nodes[3].capacity, alive=False)
    after = place(cams, nodes, before)
    lost = {c for c, n in before.items() if n == "node03"}
    assert {m.camera for m in after.moves} == lost
    assert all(m.reason == "node lost" and m.src == "node03" and m.dst != "node03" for m in after.moves)
    assert all(after.assignment[c] == before[c] for c in cams if c not in lost)
    assert all(v <= 40.0 for v in loads(after, cams, nodes).values())


def test_a_joining_node_takes_cameras_gradually_and_then_nothing_flaps():
    cams, nodes = county(300, 10, 40.0)
    a = place(cams, nodes).assignment
    nodes.append(Node("node10", 40.0))
    rounds, moves = 0, []
    while True:
        p = place(cams, nodes, a, max_moves=10)
        if not p.moves:
            break
        assert len(p.moves) <= 10 and all(m.reason == "rebalance" and m.dst == "node10" for m in p.moves)
        moves += p.moves
        a = p.assignment
        rounds += 1
        assert rounds < 20
    ld = loads(p, cams, nodes)
    assert ld["node10"] > 0 and max(ld.values()) / 40 - min(ld.values()) / 40 <= 0.15 + 2 / 40
    assert len({m.camera for m in moves}) == len(moves)  # no camera moved twice
    assert place(cams, nodes, a).moves == []


def test_no_room_leaves_cameras_unplaced_and_says_so():
    cams = {f"c{i}": 1.0 for i in range(10)}
    p = place(cams, [Node("a", 4), Node("b", 3), Node("dead", 50, alive=False)])
    assert len(p.assignment) == 7 and len(p.unplaced) == 3
    assert all(m.dst is None for m in p.moves if m.camera in p.unplaced)
    assert all(n in ("a", "b") for n in p.assignment.values())


def test_a_node_whose_capacity_shrinks_sheds_its_lightest_cameras():
    cams = {"fire": 2.0, "x": 1.0, "y": 1.0}
    a = place(cams, [Node("a", 4), Node("b", 4)], {"fire": "a", "x": "a", "y": "a"}, hysteresis=1.0).assignment
    assert a == {"fire": "a", "x": "a", "y": "a"}  # within hysteresis 1.0: no rebalance
    p = place(cams, [Node("a", 3), Node("b", 4)], a, hysteresis=1.0)
    assert [(m.camera, m.reason, m.dst) for m in p.moves] == [("y", "node full", "b")]


def test_the_one_box_service_never_imports_ray(tmp_path):
    """Cluster mode costs the one-box service nothing: with Ray made unimportable, the Runtime, the API and the CLI's
    config check load and run a camera-less service exactly as before (Ray is imported only by
    vigil/cluster/ray_backend.py, in cluster mode)."""
    import subprocess
    import sys

    import yaml

    from vigil_fixtures import service_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(service_config(tmp_path, cameras=[]), allow_unicode=True))
    code = ("import sys; sys.modules['ray'] = None\n"  # `import ray` now raises ImportError
            "from vigil.config import load_config\n"
            "from vigil.service import Runtime\n"
            "from vigil.api.app import create_app\n"
            f"rt = Runtime(load_config({str(cfg)!r}))\n"
            "create_app(rt); rt.stop()\n"
            "print('role', rt.role, 'ray loaded', any(m == 'ray' or m.startswith('ray.') for m in sys.modules "
            "if sys.modules[m] is not None))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "role all ray loaded False" in out.stdout, out.stdout


class _Record:
    """The control Runtime's view of camera_holders (what NodeFeed reads), changed by the test as the maintainer would."""

    def __init__(self, holders: dict[str, str | None]):
        self.holders, self._holders, self.reads = holders, None, 0

    def _cluster_holders(self):
        if self._holders is None:
            self.reads += 1
            self._holders = {c: {"node": n} for c, n in self.holders.items()}
        return self._holders


def test_the_live_view_asks_the_holding_node_and_follows_a_move():
    """NodeFeed (plain logic; the Ray transport is a function): the node holding the camera answers; a dead node is a
    503 that says so and makes the next call read the record again; a camera that left a node is asked of its new
    node; a camera placed nowhere is a 409; an MJPEG stream rides out a move instead of ending."""
    import asyncio

    import pytest

    from vigil.cluster.live_proxy import NodeFeed
    from vigil.live_errors import LiveError

    calls, dead = [], set()
    held = {"n1": {"c1"}, "n2": set()}

    def call_node(node, method, args, kwargs, timeout_s):
        calls.append((node, method, args[0]))
        if node in dead:
            raise TimeoutError("no answer")
        if args[0] not in held[node]:
            return {"error": {"status": 409, "detail": f"camera '{args[0]}' is not running"}}
        if method == "snapshot_jpeg":
            return {"ok": b"\xff\xd8" + node.encode()}
        if method == "next_jpeg":
            return {"ok": [(args[1] or 0) + 1, node.encode()]}
        if method == "open_session":
            return {"error": {"status": 409, "detail": "not H.264"}}
        return {"ok": {"frame_at": 1.0, "width": 2, "height": 2, "detections": []}}

    rec = _Record({"c1": "n1", "c9": None})
    feed = NodeFeed(rec, call_node)
    assert feed.snapshot_jpeg("c1") == b"\xff\xd8n1" and calls[-1] == ("n1", "snapshot_jpeg", "c1")
    assert feed.next_jpeg("c1", None) == (1, b"n1")
    # the node dies: a clear 503, and the record is read again on the next call
    dead.add("n1")
    with pytest.raises(LiveError) as err:
        feed.snapshot_jpeg("c1")
    assert err.value.status == 503 and "(n1) does not answer" in err.value.detail
    assert feed.next_jpeg("c1", 1) == (1, None)  # an MJPEG stream waits through the move
    # the camera moves to n2: asked there
    held["n2"].add("c1")
    rec.holders["c1"] = "n2"
    rec._holders = None
    assert feed.snapshot_jpeg("c1") == b"\xff\xd8n2"
    assert feed.next_jpeg("c1", 1) == (2, b"n2")
    # a refusal on the node comes back with its status and words
    with pytest.raises(LiveError) as err:
        asyncio.run(feed.open_session("c1", "rtsp://x", "v=0", "offer"))
    assert (err.value.status, err.value.detail) == (409, "not H.264")
    # placed nowhere: 409 for live, 503 "no frame" for a snapshot, empty overlay; the MJPEG stream ends
    for call in (lambda: feed.next_jpeg("c9", None), lambda: asyncio.run(feed.open_session("c9", "u", "v=0", "offer"))):
        with pytest.raises(LiveError) as err:
            call()
        assert err.value.status == 409 and "not running on any node" in err.value.detail
    with pytest.raises(LiveError) as err:
        feed.snapshot_jpeg("c9")
    assert err.value.status == 503
    assert feed.detections("c9")["detections"] == [] and feed.detections("c1")["frame_at"] == 1.0
    rec.holders["c1"] = None
    rec._holders = None
    with pytest.raises(LiveError):
        feed.next_jpeg("c1", 2)
    assert asyncio.run(feed.hang_up("c9", "s1")) is False


def test_the_evidence_collector_copies_each_nodes_evidence_once_it_is_final(tmp_path):
    """EvidenceCollector (plain logic; the nodes' disks are folders, the Ray call a function): an open event's snapshot
    is copied at once and again when the event ends, a clip once it is ready; a node that stops answering is logged
    once and keeps the copies made so far; the head's copy is what the API gets once the node is gone."""
    from datetime import datetime, timezone

    from vigil.api.db import EventRow, make_engine, make_sessionmaker
    from vigil.api.migrate import upgrade
    from vigil.cluster.collector import EvidenceCollector

    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    disks = {"n1": tmp_path / "n1", "n2": tmp_path / "n2"}
    for d in disks.values():
        (d / "events").mkdir(parents=True)
    (disks["n1"] / "events" / "1.jpg").write_bytes(b"first frame")
    (disks["n2"] / "events" / "2.jpg").write_bytes(b"n2 frame")
    dead, asked = set(), []

    def fetch(node, rel):
        asked.append((node, rel))
        if node in dead:
            raise ConnectionError("node gone")
        p = disks[node] / rel
        return p.read_bytes() if p.is_file() else None

    now = datetime.now(timezone.utc)
    with sessions.begin() as s:
        s.add(EventRow(id=1, camera_id="c1", institution_id="i", rule="fire_smoke", state="open", started_at=now,
                       snapshot_path="@n1/events/1.jpg", clip_path="@n1/clips/1.mp4", clip_status="recording"))
        s.add(EventRow(id=2, camera_id="c2", institution_id="i", rule="fire_smoke", state="closed", started_at=now,
                       snapshot_path="@n2/events/2.jpg"))
        s.add(EventRow(id=3, camera_id="c3", institution_id="i", rule="fire_smoke", state="closed", started_at=now,
                       snapshot_path="events/3.jpg"))  # a one-box path: not a node's
    col = EvidenceCollector(sessions, tmp_path / "head" / "media", fetch)
    assert col.collect() == {"copied": 2, "failed": 0, "pending": 1}
    assert col.target("@n1/events/1.jpg").read_bytes() == b"first frame"
    # nothing new: the open event's provisional copy is not fetched again, the final one never
    asked.clear()
    assert col.collect()["copied"] == 0 and asked == []
    # the event ends with a better frame and a ready clip: both copied, once
    (disks["n1"] / "events" / "1.jpg").write_bytes(b"best frame")
    (disks["n1"] / "clips").mkdir()
    (disks["n1"] / "clips" / "1.mp4").write_bytes(b"mp4")
    with sessions.begin() as s:
        row = s.get(EventRow, 1)
        row.state, row.clip_status = "closed", "ready"
    assert col.collect() == {"copied": 2, "failed": 0, "pending": 0}
    assert col.target("@n1/events/1.jpg").read_bytes() == b"best frame"
    assert col.media("n1", "clips/1.mp4") == b"mp4"
    # a node gone: its new event cannot be copied (asked once a round), the copies made before stay served
    dead.add("n1")
    with sessions.begin() as s:
        s.add(EventRow(id=4, camera_id="c1", institution_id="i", rule="fire_smoke", state="closed", started_at=now,
                       snapshot_path="@n1/events/4.jpg"))
    asked.clear()
    assert col.collect() == {"copied": 0, "failed": 1, "pending": 1} and asked == [("n1", "events/4.jpg")]
    assert col.media("n1", "events/1.jpg") == b"best frame"
    assert col.media("n1", "../../n2/events/2.jpg") is None  # never outside the node's folder
