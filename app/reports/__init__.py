"""Reports derived from cases, tasks and the event log: the ledger (台账), the monthly assessment
with its reverse ranking (逆排名) and the leader's dashboard. Definitions live in `metrics`."""
