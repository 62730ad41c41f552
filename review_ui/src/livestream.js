// The camera view's transport helpers, without Vue: waiting for ICE gathering (the server does not trickle) and
// reading the MJPEG fallback (multipart/x-mixed-replace) with fetch, so an abort closes the connection at once and
// the stream's end (live.mjpeg_max_s) is seen.
import { ApiError } from "./api.js";

export function waitIceGathering(conn, ms) {
  if (conn.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { conn.removeEventListener("icegatheringstatechange", check); clearTimeout(timer); resolve(); };
    const check = () => { if (conn.iceGatheringState === "complete") done(); };
    const timer = setTimeout(done, ms); // send what was gathered so far
    conn.addEventListener("icegatheringstatechange", check);
  });
}

const CRLF2 = [13, 10, 13, 10];

function indexOfSeq(buf, seq, from = 0) {
  outer: for (let i = from; i <= buf.length - seq.length; i++) {
    for (let j = 0; j < seq.length; j++) if (buf[i + j] !== seq[j]) continue outer;
    return i;
  }
  return -1;
}

// Reads the MJPEG stream at `url` until it ends, calling onJpeg(bytes) for each part; an HTTP error is an ApiError
// with the API's detail. Abort it through `signal`.
export async function readMjpeg(url, signal, onJpeg) {
  const res = await fetch(url, { credentials: "same-origin", cache: "no-store", signal });
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  const reader = res.body.getReader();
  let buf = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf);
    joined.set(value, buf.length);
    buf = joined;
    for (;;) { // each part: --boundary, headers with Content-Length, a blank line, the JPEG
      const headEnd = indexOfSeq(buf, CRLF2);
      if (headEnd < 0) break;
      const head = new TextDecoder().decode(buf.subarray(0, headEnd));
      const m = /content-length:\s*(\d+)/i.exec(head);
      const start = headEnd + 4;
      if (!m) { buf = buf.slice(start); continue; }
      const len = Number(m[1]);
      if (buf.length < start + len) break;
      onJpeg(buf.slice(start, start + len));
      buf = buf.slice(start + len);
    }
  }
}
