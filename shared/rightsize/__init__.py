"""Right-size at renewal: the least privilege a partner actually used (issue 14).

- `mapping`   ActionTrail service and event names -> RAM actions (with the documented exceptions)
- `arns`      the resources an ActionTrail event names -> RAM resource ARNs
- `catalog`   the known actions of a service, to count what a wildcard grants
- `granted`   what the agreement's policies allow, counted per policy
- `usage`     the partner's calls of one agreement, from the stored audit events
- `proposal`  the same agreement with one Custom policy of exactly what was used, checked
- `analysis`  the three together for one agreement; the one-line summary
- `renewal`   the hooks at renewal time (first pre-expiry notice, daily digest, proposals/ in the bucket)
- `cli`       `rolepact rightsize AGREEMENT_ID [--since T] [--json] [--out FILE]`
"""
