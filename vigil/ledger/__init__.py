"""The hazard ledger (issue #16): from a confirmed event (or an inspection, or a complaint) to a closed hazard.

- `config`: the `hazards:` section of the YAML (deadline policy, escalation schedule, re-check, uploads, complaints).
- `states`: the state machine and who may take which step (no web framework, no database).
- `hazards`: opening, joining sightings, transitions, comments, photos, history (plain functions on a Session).
- `escalation`: overdue hazards go up the region tree (`EscalationMaintainer`, driven by `vigil.clock`).
- `recheck`: the camera checks the fix (`RecheckProcessor`).
- `complaints`, `stats`, `bulletin`: tip-offs, statistics and rankings, the monthly bulletin.
"""
