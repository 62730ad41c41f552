// A 422 body of the inventory API ({detail, errors: [{loc, msg}]}) -> messages keyed by the editor's field paths:
// "z0.name", "z0.polygon", "z0.r1" (the rule as a whole), "z0.r1.classes", "z0.r1.schedule.windows.0.start", ...
// Whatever cannot be placed at a field stays in `general`, so nothing the API said is lost.
function add(out, key, msg) { out[key] = out[key] ? `${out[key]}; ${msg}` : msg; }

// ruleTypes: the rule union's tags (pydantic puts the tag in the path of a rule's field errors)
export function zoneErrors(body, zones, ruleTypes) {
  const fields = {};
  const general = [];
  for (const e of (body && body.errors) || []) {
    const loc = e.loc[0] === "body" ? e.loc.slice(1) : e.loc.slice();
    const msg = String(e.msg).replace(/^Value error, /, "");
    const ruleLevel = loc.length === 0 && msg.match(/^zones\[(\d+)\]\.rules\[(\d+)\]: (.*)$/);
    if (ruleLevel) { add(fields, `z${ruleLevel[1]}.r${ruleLevel[2]}`, ruleLevel[3]); continue; }
    const dup = loc.length === 0 && msg.match(/zone names must be unique, repeated: \[(.*)\]/);
    if (dup) {
      const names = dup[1].split(",").map((s) => s.trim().replace(/^'|'$/g, ""));
      zones.forEach((z, i) => { if (names.includes(z.name)) add(fields, `z${i}.name`, msg); });
      continue;
    }
    if (loc[0] === "zones" && typeof loc[1] === "number") {
      const zi = loc[1];
      let key;
      if (loc[2] === "rules" && typeof loc[3] === "number") {
        let rest = loc.slice(4);
        if (rest.length && ruleTypes.includes(rest[0])) rest = rest.slice(1);  // the union's tag
        key = `z${zi}.r${loc[3]}${rest.length ? "." + rest.join(".") : ""}`;
      } else if (loc[2] === "polygon") key = `z${zi}.polygon`;
      else key = `z${zi}${loc.length > 2 ? "." + loc.slice(2).join(".") : ""}`;
      add(fields, key, msg);
    } else general.push(`${loc.join(".") || "camera"}: ${msg}`);
  }
  if (!body || !(body.errors && body.errors.length)) general.push((body && body.detail) || "invalid");  // a 422 naming no field
  return { fields, general };
}
