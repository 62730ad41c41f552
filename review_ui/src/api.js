// Calls to the vigil API: the HttpOnly session cookie rides along (same origin); errors carry the API's detail.
export class ApiError extends Error {
  constructor(status, detail, errors) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
    this.errors = errors || []; // a 422's field list: [{loc: ["body", "password"], msg, type}, ...]
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export async function api(method, path, body, { quiet401 = false } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(res.status, (data && data.detail) || res.statusText, data && data.errors);
  }
  return data;
}

export const get = (path, params) => api("GET", path + query(params));
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const del = (path) => api("DELETE", path);
export const patch = (path, body) => api("PATCH", path, body);

// a 422's errors by body field ({password: {msg, type}, regions: {...}}): shown at the form field that caused them
export function fieldErrors(e) {
  const out = {};
  for (const err of (e && e.errors) || []) {
    const loc = err.loc || [];
    const field = loc[0] === "body" ? loc[1] : null;
    if (typeof field === "string" && !out[field]) out[field] = err;
  }
  return out;
}
