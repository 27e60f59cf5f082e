"""The audit log: who published, changed a rule or moved cases, when, and what."""
