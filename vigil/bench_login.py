"""`vigil bench login`: 1,000 wrong passwords from one address against the real service, while a logged-in user
keeps reading `GET /api/events` from another address; what the attacker got (401 then 429) and what it cost the
user (p50/p99 latency with and without the attack). The service is `vigil serve` in its own process (SQLite file,
one disabled camera); the attacker sends from 127.0.0.2, the user from 127.0.0.1 (both loopback on Linux)."""
from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path


def _serve(config: Path, port: int):
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "vigil.cli", "serve", "--config", str(config), "--port", str(port),
                             "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2).read()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"vigil serve did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2) if values else 0.0


def _reads(client, seconds: float | None, stop: threading.Event | None = None) -> tuple[list[float], int]:
    lat, errors = [], 0
    t_end = time.monotonic() + seconds if seconds else None
    while (t_end is None or time.monotonic() < t_end) and not (stop and stop.is_set()):
        t = time.perf_counter()
        r = client.get("/api/events", params={"limit": 50})
        lat.append(time.perf_counter() - t)
        errors += r.status_code != 200
    return lat, errors


def bench_login(attempts: int = 1000, baseline_s: float = 10.0, events: int = 200, log=print) -> dict:
    import httpx

    from vigil import accounts
    from vigil.config import parse_config
    from vigil.models.cpu import cpu_info
    from vigil.service import Runtime
    from vigil.vision.events import EventRecord

    import yaml

    with tempfile.TemporaryDirectory(prefix="vigil-bench-login-") as tmp:
        raw = {"institutions": [{"id": "fy", "name": "示范县福缘养老院", "region": "示范县/城关镇"}],
               "cameras": [{"id": "exit1", "name": "东侧安全出口", "url": "rtsp://127.0.0.1:9/x", "institution": "fy",
                            "site_kind": "exit", "enabled": False,
                            "zones": [{"name": "出口", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                                       "rules": [{"type": "blocked_exit"}]}]}],
               "storage": {"data_dir": str(Path(tmp) / "data")}}
        config = Path(tmp) / "bench.yaml"
        config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        rt = Runtime(parse_config(raw), start_cameras=False)
        from datetime import datetime, timedelta, timezone
        base = datetime(2026, 11, 20, tzinfo=timezone.utc)
        for i in range(events):
            rt.store.started(EventRecord("exit1", "出口", "blocked_exit", float(i), base + timedelta(minutes=i), 0.7, {}, {}), None)
        with rt.sessions() as s:
            for name, role in (("target", "supervisor"), ("watcher", "viewer")):
                accounts.add_user(s, name, role, "correct-horse-battery-9", regions=["示范县"])
            s.commit()
        rt.stop()
        port = _free_port()
        server = _serve(config, port)
        url = f"http://127.0.0.1:{port}"
        try:
            user = httpx.Client(base_url=url, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.1"))
            token = user.post("/api/auth/login", json={"username": "watcher", "password": "correct-horse-battery-9"}).json()["access_token"]
            user.headers["Authorization"] = f"Bearer {token}"
            log(f"bench login: baseline reads for {baseline_s:g} s")
            base_lat, base_err = _reads(user, baseline_s)
            attacker = httpx.Client(base_url=url, timeout=30,  # to 127.0.0.1, from 127.0.0.2
                                    transport=httpx.HTTPTransport(local_address="127.0.0.2"))
            stop, during = threading.Event(), {}
            reader = threading.Thread(target=lambda: during.update(zip(("lat", "err"), _reads(user, None, stop))))
            reader.start()
            codes: dict[int, int] = {}
            first_429 = None
            log(f"bench login: {attempts} wrong passwords from 127.0.0.2")
            t0 = time.perf_counter()
            for i in range(attempts):
                r = attacker.post("/api/auth/login", json={"username": "target", "password": f"wrong-password-{i}"})
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if r.status_code == 429 and first_429 is None:
                    first_429 = i + 1
            attack_s = time.perf_counter() - t0
            stop.set()
            reader.join(60)
            # the attacked account from the user's address: refused too (per account); another account is not
            anon = httpx.Client(base_url=url, timeout=30)
            target_elsewhere = anon.post("/api/auth/login", json={"username": "target", "password": "correct-horse-battery-9"}).status_code
            other_login = anon.post("/api/auth/login", json={"username": "watcher", "password": "correct-horse-battery-9"}).status_code
        finally:
            server.terminate()
            server.wait(30)
    lat = during.get("lat", [])
    return {"machine": cpu_info().label(), "attempts": attempts, "attack_seconds": round(attack_s, 2),
            "attempts_per_s": round(attempts / attack_s, 1), "status_counts": {str(k): v for k, v in sorted(codes.items())},
            "first_429_at_attempt": first_429, "target_login_from_other_address": target_elsewhere,
            "other_user_login_during_lockout": other_login,
            "events_read_baseline": {"n": len(base_lat), "errors": base_err, "p50_ms": _pct(base_lat, 0.5),
                                     "p99_ms": _pct(base_lat, 0.99)},
            "events_read_during_attack": {"n": len(lat), "errors": during.get("err", 0), "p50_ms": _pct(lat, 0.5),
                                          "p99_ms": _pct(lat, 0.99),
                                          "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else 0.0}}


def human_lines(r: dict) -> list[str]:
    b, d = r["events_read_baseline"], r["events_read_during_attack"]
    return [f"CPU: {r['machine']}",
            f"attacker: {r['attempts']} wrong passwords in {r['attack_seconds']} s -> {r['status_counts']} "
            f"(first 429 at attempt {r['first_429_at_attempt']})",
            f"the attacked account from another address: {r['target_login_from_other_address']}; another user's "
            f"login meanwhile: {r['other_user_login_during_lockout']}",
            f"GET /api/events as a logged-in user: p50 {b['p50_ms']} / p99 {b['p99_ms']} ms alone ({b['n']} reads), "
            f"p50 {d['p50_ms']} / p99 {d['p99_ms']} ms during the attack ({d['n']} reads, {d['errors']} errors)"]
