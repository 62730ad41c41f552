// zh-CN first, en second; the choice is remembered in localStorage and switches Element Plus's locale too.
import { ref } from "vue";
import zh from "./locales/zh.js";
import en from "./locales/en.js";
import * as zones from "./locales/zones.js";

const KEY = "vigil.lang";
const MESSAGES = { "zh-CN": { ...zh, ...zones.zh }, en: { ...en, ...zones.en } };

function initial() {
  try { return localStorage.getItem(KEY) === "en" ? "en" : "zh-CN"; } catch { return "zh-CN"; }
}

export const lang = ref(initial());
document.documentElement.lang = lang.value;

export function setLang(value) {
  lang.value = value === "en" ? "en" : "zh-CN";
  document.documentElement.lang = lang.value;
  try { localStorage.setItem(KEY, lang.value); } catch { /* private mode */ }
}

export function t(key, params) {
  const dict = MESSAGES[lang.value];
  let s = dict[key] ?? MESSAGES["zh-CN"][key] ?? key;
  for (const [k, v] of Object.entries(params || {})) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

// an API code (rule, state, step, ...) in words; the code itself when unknown
export const label = (group, code) => (code == null ? "" : t(`${group}.${code}`) === `${group}.${code}` ? code : t(`${group}.${code}`));

export function fmtTime(v) {
  if (!v) return "";
  const d = new Date(v);
  return d.toLocaleString(lang.value === "en" ? "en-GB" : "zh-CN", { hour12: false });
}

// punctuation that differs by language: "name（note）" / "name (note)", "title：value" / "title: value", lists
export const paren = (a, b) => (lang.value === "en" ? `${a} (${b})` : `${a}（${b}）`);
export const colon = (a, b) => (lang.value === "en" ? `${a}: ${b}` : `${a}：${b}`);
export const joinList = (items) => items.join(lang.value === "en" ? "; " : "；");
