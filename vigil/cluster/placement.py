"""Where each camera runs in cluster mode (issue #19): a plain, deterministic function from the cameras, the nodes
and the current assignment to the next assignment and the moves that lead there, each with its reason.

- A camera stays where it is while its node is alive and not over its capacity (moving a camera costs a gap in its
  video and a reconnect; stickiness is the default).
- A camera whose node is gone (or that has none yet) goes to the live node with the most free capacity relative to
  its size (ties: the node id), one camera at a time, heaviest first.
- Rebalancing (a node joined, or capacity changed): cameras move from the most loaded node (load / capacity) to the
  least loaded only while the two differ by more than `hysteresis` and the move narrows the gap, at most `max_moves`
  per call. Without a real imbalance nothing moves: two calls in a row with the same inputs never move a camera
  twice (no flapping).

Capacity is in camera units (a sub-stream camera at 1 Hz detection weighs 1; `weight` scales it, e.g. by detection
rate). Nothing here knows about Ray; `vigil.cluster` applies the result."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Reason = Literal["new camera", "node lost", "node full", "rebalance"]


@dataclass(frozen=True)
class Node:
    id: str
    capacity: float  # camera units this node declares it can hold
    alive: bool = True


@dataclass(frozen=True)
class Move:
    camera: str
    src: str | None  # None: the camera had no node
    dst: str | None  # None: no live node has room
    reason: Reason


@dataclass
class Placement:
    assignment: dict[str, str]  # camera -> node
    moves: list[Move] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)  # cameras no live node has room for

    def load(self, weights: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for cam, node in self.assignment.items():
            out[node] = out.get(node, 0.0) + weights.get(cam, 1.0)
        return out


def place(cameras: dict[str, float], nodes: list[Node], current: dict[str, str] | None = None, *,
          hysteresis: float = 0.15, max_moves: int = 50) -> Placement:
    """`cameras`: camera id -> weight; `nodes`: every node known (dead ones with alive False); `current`: camera ->
    node now. Returns the next assignment, the moves and the cameras left without a node."""
    live = {n.id: n for n in nodes if n.alive and n.capacity > 0}
    load = {nid: 0.0 for nid in live}
    assignment: dict[str, str] = {}
    moves: list[Move] = []
    homeless: list[tuple[str, str | None, Reason]] = []
    # 1. stay put where possible, heaviest first so that a full node sheds its lightest cameras
    for cam in sorted(cameras, key=lambda c: (-cameras[c], c)):
        node = (current or {}).get(cam)
        if node in live and load[node] + cameras[cam] <= live[node].capacity + 1e-9:
            assignment[cam] = node
            load[node] += cameras[cam]
        else:
            reason: Reason = "new camera" if node is None else ("node full" if node in live else "node lost")
            homeless.append((cam, node, reason))
    # 2. the homeless go where the most room is, heaviest first
    unplaced = []
    for cam, src, reason in sorted(homeless, key=lambda h: (-cameras[h[0]], h[0])):
        w = cameras[cam]
        fits = [nid for nid in live if load[nid] + w <= live[nid].capacity + 1e-9]
        if not fits:
            unplaced.append(cam)
            moves.append(Move(cam, src, None, reason))
            continue
        dst = min(fits, key=lambda nid: ((load[nid] + w) / live[nid].capacity, nid))
        assignment[cam] = dst
        load[dst] += w
        moves.append(Move(cam, src, dst, reason))
    # 3. rebalance with hysteresis
    moved = {m.camera for m in moves}
    budget = max_moves - len(moves)
    while budget > 0 and len(live) > 1:
        ratio = {nid: load[nid] / live[nid].capacity for nid in live}
        hi = max(live, key=lambda nid: (ratio[nid], nid))
        lo = min(live, key=lambda nid: (ratio[nid], nid))
        if ratio[hi] - ratio[lo] <= hysteresis:
            break
        # the camera whose move narrows the gap most, among those not moved in this call
        best = None
        for cam in sorted(c for c, nid in assignment.items() if nid == hi and c not in moved):
            w = cameras[cam]
            if load[lo] + w > live[lo].capacity + 1e-9:
                continue
            gap = abs((load[hi] - w) / live[hi].capacity - (load[lo] + w) / live[lo].capacity)
            if gap < ratio[hi] - ratio[lo] - 1e-9 and (best is None or gap < best[0]):
                best = (gap, cam)
        if best is None:
            break
        cam = best[1]
        assignment[cam] = lo
        load[hi] -= cameras[cam]
        load[lo] += cameras[cam]
        moved.add(cam)
        moves.append(Move(cam, hi, lo, "rebalance"))
        budget -= 1
    return Placement(assignment, moves, unplaced)
