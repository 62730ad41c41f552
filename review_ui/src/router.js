import { createRouter, createWebHashHistory } from "vue-router";
import { me, loadMe } from "./auth.js";
import { setUnauthorizedHandler } from "./api.js";
import { menusFor } from "./menus.js";
import Login from "./views/Login.vue";
import Layout from "./views/Layout.vue";

const views = {
  review: () => import("./views/Review.vue"),
  hazards: () => import("./views/Hazards.vue"),
  hazard: () => import("./views/HazardDetail.vue"),
  complaints: () => import("./views/Complaints.vue"),
  dashboard: () => import("./views/Dashboard.vue"),
  cameras: () => import("./views/Cameras.vue"),
  camera: () => import("./views/CameraView.vue"),
  zones: () => import("./views/ZoneEditor.vue"),
  audit: () => import("./views/Audit.vue"),
  admin: () => import("./views/Admin.vue"),
  users: () => import("./views/admin/Users.vue"),
  tokens: () => import("./views/admin/Tokens.vue"),
  notifications: () => import("./views/admin/Notifications.vue"),
};

export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: "/login", name: "login", component: Login },
    {
      path: "/", component: Layout, children: [
        { path: "", name: "home", component: { render: () => null } },
        { path: "review", component: views.review, meta: { perm: "events.review" } },
        { path: "hazards", component: views.hazards, meta: { perm: "hazards.read" } },
        { path: "hazards/:id(\\d+)", component: views.hazard, meta: { perm: "hazards.read" }, props: true },
        { path: "complaints", component: views.complaints, meta: { perm: "complaints.triage" } },
        { path: "dashboard", component: views.dashboard, meta: { perm: "stats.read" } },
        { path: "cameras", component: views.cameras, meta: { perm: "live.view" } },
        { path: "cameras/:id([A-Za-z0-9_-]+)", component: views.camera, meta: { perm: "live.view" }, props: true },
        { path: "cameras/:id([A-Za-z0-9_-]+)/zones", component: views.zones, meta: { perm: "inventory.edit" }, props: true },
        // 系统管理: a tabbed page; the section needs users.manage (admins), each tab its own permission too
        {
          path: "admin", component: views.admin, meta: { perm: "users.manage" }, children: [
            { path: "", redirect: "/admin/users" },
            { path: "users", component: views.users, meta: { perm: "users.manage" } },
            { path: "tokens", component: views.tokens, meta: { perm: "tokens.manage" } },
            { path: "notifications", component: views.notifications, meta: { perm: "notifications.manage" } },
            { path: "audit", component: views.audit, meta: { perm: "audit.read" } },
          ],
        },
      ],
    },
    { path: "/:rest(.*)*", redirect: "/" },
  ],
});

let checked = false;
router.beforeEach(async (to) => {
  if (!checked) { checked = true; await loadMe(); }
  if (to.name === "login") return me.value ? "/" : true;
  if (!me.value) return { name: "login", query: { next: to.fullPath } };
  if (to.name === "home") { const first = menusFor(me.value)[0]; return first ? first.path : true; }
  // every level's permission (a child's meta would otherwise hide its parent's: /admin/audit needs users.manage too)
  if (to.matched.some((r) => r.meta.perm && !me.value.permissions.includes(r.meta.perm))) return "/";
  return true;
});

setUnauthorizedHandler(() => {
  me.value = null;
  if (router.currentRoute.value.name !== "login") router.push({ name: "login" });
});
