// The hazard ledger's codes the pages offer (their words are in the locales: cat.*, sev.*): the rule-found
// categories first, then the other risk factors (vigil/ledger/config.py, CATEGORIES).
export const CATEGORIES = ["blocked_passage", "open_flame", "ebike_indoor", "control_room_unstaffed", "monitoring_fault",
  "fire_equipment", "electrical", "other"];
export const SEVERITIES = ["major", "general"];
