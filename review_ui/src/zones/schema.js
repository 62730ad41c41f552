// Reading the camera JSON Schema (GET /api/inventory/schema) for the zone editor's forms: rule definitions by type,
// defaults of a new rule, each field's kind, bounds, label and help (zh from the locale, else the schema's own).
import { lang, t } from "../i18n.js";

export function deref(schema, node) {
  let n = node;
  while (n && n.$ref) n = schema.$defs[n.$ref.split("/").pop()];
  return n;
}

// rule type -> its definition (the discriminated union's members)
export function ruleDefs(schema) {
  const zone = schema.$defs.Zone;
  const members = zone.properties.rules.items.oneOf || zone.properties.rules.items.anyOf || [];
  const out = {};
  for (const m of members) {
    const def = deref(schema, m);
    out[def.properties.type.const] = def;
  }
  return out;
}

// a field's kind for the form: bool, number, int, classes (array of strings), schedule; nullable when null is allowed
export function fieldKind(schema, prop) {
  const variants = prop.anyOf ? prop.anyOf.map((v) => deref(schema, v)) : [deref(schema, prop)];
  const nullable = variants.some((v) => v.type === "null");
  const v = variants.find((x) => x.type !== "null") || {};
  let kind = "other";
  if (v.title === "Schedule" || (v.properties && v.properties.windows)) kind = "schedule";
  else if (v.type === "boolean") kind = "bool";
  else if (v.type === "integer") kind = "int";
  else if (v.type === "number") kind = "number";
  else if (v.type === "array" && v.items && v.items.type === "string") kind = "classes";
  const min = v.minimum ?? (v.exclusiveMinimum !== undefined ? v.exclusiveMinimum : undefined);
  const max = v.maximum ?? v.exclusiveMaximum;
  return { kind, nullable, min, max, exclusiveMin: v.exclusiveMinimum !== undefined, def: v };
}

export function newRule(schema, type) {
  const def = ruleDefs(schema)[type];
  const rule = { type };
  for (const [name, prop] of Object.entries(def.properties)) {
    if (name !== "type" && "default" in prop) rule[name] = JSON.parse(JSON.stringify(prop.default));
  }
  return rule;
}

const has = (key) => t(key) !== key;
export function fieldLabel(name, prop) {
  return lang.value !== "en" && has(`fld.${name}`) ? t(`fld.${name}`) : prop.title || name;
}
export function fieldHelp(name, prop) {
  return lang.value !== "en" && has(`fldd.${name}`) ? t(`fldd.${name}`) : prop.description || "";
}

// the step of a number input: fine for shares (<= 1), whole seconds otherwise
export function stepOf(f) {
  if (f.kind === "int") return 1;
  return f.max !== undefined && f.max <= 1 ? 0.05 : 1;
}
