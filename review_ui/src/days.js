// Calendar days of a given IANA time zone (the service's server.timezone), without a date library: the day a moment
// falls on there, and the ISO time of a day's midnight there (with that day's offset, so the API reads it exactly).
// A missing zone means the browser's own.

const pad = (n) => String(n).padStart(2, "0");

export function dayIn(tz, when) {
  const d = new Date(when);
  if (!tz) return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  // en-CA writes YYYY-MM-DD
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
}

function offsetIn(tz, utcMs) {
  const name = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" })
    .formatToParts(new Date(utcMs)).find((p) => p.type === "timeZoneName").value; // "GMT+08:00", "GMT-03:30" or "GMT"
  return name === "GMT" ? "+00:00" : name.slice(3);
}

export function midnightIn(tz, ymd) {
  const [y, m, d] = ymd.split("-").map(Number);
  if (!tz) return new Date(y, m - 1, d).toISOString();
  // the offset in force at that midnight: asked first near it, then at the midnight that offset gives (DST days)
  let off = offsetIn(tz, Date.UTC(y, m - 1, d));
  off = offsetIn(tz, Date.parse(`${ymd}T00:00:00${off}`));
  return `${ymd}T00:00:00${off}`;
}

export function nextDay(ymd) {
  const [y, m, d] = ymd.split("-").map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + 1));
  return `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
}
