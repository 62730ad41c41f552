// The left menu: each entry shown only when /api/auth/me grants its permission (the API refuses the rest anyway).
export const MENUS = [
  { path: "/review", key: "menu.review", perm: "events.review", icon: "Checked" },
  { path: "/hazards", key: "menu.hazards", perm: "hazards.read", icon: "Warning" },
  { path: "/complaints", key: "menu.complaints", perm: "complaints.triage", icon: "ChatLineSquare" },
  { path: "/dashboard", key: "menu.dashboard", perm: "stats.read", icon: "DataLine" },
  { path: "/cameras", key: "menu.cameras", perm: "live.view", icon: "VideoCamera" },
  { path: "/admin", key: "menu.admin", perm: "users.manage", icon: "Setting" }, // tabs: users, tokens, notifications, audit
];

export function menusFor(me) {
  if (!me) return [];
  return MENUS.filter((m) => me.permissions.includes(m.perm));
}
