"""Inference as a service (issue #19, item 2; optional per deployment, `cluster.inference: serve`): the object model
as a Ray Serve deployment that batches calls across cameras and nodes, so camera nodes only decode and a GPU node
(`cluster.serve_gpus`) infers.

A camera node's scheduler calls `RemoteDetector` like any detector. Each frame crosses the wire as a JPEG already
shrunk to the model's input size (the detector letterboxes to it anyway; 640x360 -> 320x180 at the default 320),
and the boxes come back scaled to the frame. `RemoteDetector.bytes_sent` / `calls` give the bytes per camera-second.
The fire model stays on the camera nodes."""
from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from vigil.vision.detections import Detections

APP = "vigil-inference"
DEPLOYMENT = "vigil-detector"


def build_app(model: str | None, imgsz: int, confidence: float, *, replicas: int = 1, gpus: float = 0.0,
              max_batch: int = 16, wait_s: float = 0.01):
    """The Serve application: `replicas` copies of the detector, each batching up to `max_batch` frames."""
    from ray import serve

    @serve.deployment(name=DEPLOYMENT, num_replicas=replicas, max_ongoing_requests=4 * max_batch,
                      ray_actor_options={"num_cpus": 0, "num_gpus": gpus})
    class DetectorDeployment:
        def __init__(self):
            from vigil.models.catalogue import resolve_model
            from vigil.vision.detector import load_detector

            self.detector = load_detector(resolve_model(model), imgsz, confidence, 1)
            self.batches: list[int] = []

        @serve.batch(max_batch_size=max_batch, batch_wait_timeout_s=wait_s)
        async def run(self, jpegs: list[bytes]) -> list[tuple]:
            from vigil.scheduler import detect_many

            images = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in jpegs]
            self.batches.append(len(images))
            return [(d.xyxy, d.confidence, d.class_id) for d in detect_many(self.detector, images)]

        async def __call__(self, jpeg: bytes) -> tuple:
            return await self.run(jpeg)

        def info(self) -> dict:
            b = self.batches[-1000:]
            return {"names": dict(self.detector.names), "batches": len(self.batches),
                    "mean_batch": round(sum(b) / len(b), 2) if b else 0.0, "max_batch": max(b) if b else 0}

    return DetectorDeployment.bind()


def deploy(cfg) -> None:
    """Start (or update) the inference application on the cluster; blocks until its replicas are up."""
    from ray import serve

    det, cl = cfg.detector, cfg.cluster
    serve.start(proxy_location="Disabled")  # called by handle from the nodes: no HTTP proxy needed
    serve.run(build_app(det.model, det.imgsz, det.confidence, replicas=cl.serve_replicas, gpus=cl.serve_gpus),
              name=APP, route_prefix=None, blocking=False)
    handle = serve.get_deployment_handle(DEPLOYMENT, app_name=APP)
    handle.info.remote().result(timeout_s=300)


class RemoteDetector:
    """The Detector interface over the Serve deployment (a camera node's side)."""

    def __init__(self, imgsz: int, jpeg_quality: int = 80):
        from ray import serve

        self.handle = serve.get_deployment_handle(DEPLOYMENT, app_name=APP)
        info = self.handle.info.remote().result(timeout_s=300)
        self.names: dict[int, str] = {int(k): v for k, v in info["names"].items()}
        self.imgsz, self.quality = imgsz, jpeg_quality
        self.path = None
        self._lock = threading.Lock()
        self.calls = 0
        self.bytes_sent = 0
        self.last_ms = self.total_ms = 0.0

    def _encode(self, image: np.ndarray) -> tuple[bytes, float]:
        h, w = image.shape[:2]
        scale = min(1.0, self.imgsz / max(h, w))
        small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else image
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes(), scale

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        t = time.perf_counter()
        sent = [self._encode(im) for im in images]
        responses = [self.handle.remote(jpeg) for jpeg, _ in sent]  # all in flight at once: Serve batches them
        out = []
        for (jpeg, scale), resp in zip(sent, responses):
            xyxy, conf, cls = resp.result(timeout_s=60)
            out.append(Detections(np.asarray(xyxy, np.float32) / scale, np.asarray(conf, np.float32),
                                  np.asarray(cls, np.int32), self.names))
        with self._lock:
            self.calls += len(images)
            self.bytes_sent += sum(len(j) for j, _ in sent)
            self.last_ms = (time.perf_counter() - t) * 1000
            self.total_ms += self.last_ms
        return out

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]
