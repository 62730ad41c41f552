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
  dashboard: () => import("./views/Dashboard.vue"),
  cameras: () => import("./views/Cameras.vue"),
  audit: () => import("./views/Audit.vue"),
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
        { path: "dashboard", component: views.dashboard, meta: { perm: "stats.read" } },
        { path: "cameras", component: views.cameras, meta: { perm: "live.view" } },
        { path: "admin/audit", component: views.audit, meta: { perm: "users.manage" } },
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
  if (to.meta.perm && !me.value.permissions.includes(to.meta.perm)) return "/";
  return true;
});

setUnauthorizedHandler(() => {
  me.value = null;
  if (router.currentRoute.value.name !== "login") router.push({ name: "login" });
});
