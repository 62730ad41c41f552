// Who is logged in (GET /api/auth/me): role, scope and the permissions that decide the menus.
import { ref } from "vue";
import { api } from "./api.js";

export const me = ref(null);

export const can = (perm) => !!me.value && me.value.permissions.includes(perm);

export async function loadMe() {
  try {
    me.value = await api("GET", "/api/auth/me", undefined, { quiet401: true });
  } catch {
    me.value = null;
  }
  return me.value;
}

export async function login(username, password) {
  await api("POST", "/api/auth/login", { username, password }, { quiet401: true });
  return loadMe();
}

// pages register what must happen while the session still exists (the review page gives back its claim)
const beforeLogout = new Set();
export const onBeforeLogout = (fn) => { beforeLogout.add(fn); return () => beforeLogout.delete(fn); };

export async function logout() {
  await Promise.all([...beforeLogout].map((fn) => Promise.resolve(fn()).catch(() => {})));
  try { await api("POST", "/api/auth/logout", {}, { quiet401: true }); } catch { /* already gone */ }
  me.value = null;
}
