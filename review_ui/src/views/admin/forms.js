// Shared bits of the admin forms: an API field error in the user's language, the 4xx message, client-side rules.
import { ElMessage } from "element-plus";
import { fieldErrors } from "../../api.js";
import { paren, t } from "../../i18n.js";

const BY_TYPE = {
  missing: "adm.required", string_too_short: "adm.tooShort", string_too_long: "adm.tooLong",
  string_pattern_mismatch: "adm.badChars", too_long: "adm.tooMany", literal_error: "adm.badChoice",
};

// the API's words for one field error; a known kind of error in the user's language, the API's message kept after it
export function errText(field, err) {
  if (field === "password" && err.type === "string_too_short") return t("adm.pwShort");
  const key = BY_TYPE[err.type];
  return key ? paren(t(key), err.msg) : err.msg;
}

// puts a 422's per-field errors into `errs` (keys: the form's fields); returns true when at least one field got one
export function showFieldErrors(e, errs, fields) {
  const got = fieldErrors(e);
  let shown = false;
  for (const [field, err] of Object.entries(got)) {
    if (fields.includes(field)) { errs[field] = errText(field, err); shown = true; }
  }
  return shown;
}

export function clearErrs(errs) { for (const k of Object.keys(errs)) errs[k] = ""; }

export function failed(e) {
  ElMessage.error({ message: `${e.status ? `${e.status} ` : ""}${e.detail || e.message}`, customClass: "v-api-error" });
}

export const USERNAME_RE = /^[A-Za-z0-9._@-]*[A-Za-z0-9_@-][A-Za-z0-9._@-]*$/;
