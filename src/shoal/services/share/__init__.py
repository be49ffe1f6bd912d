"""The share services (Manila): shares, their snapshots and access rules, and their recovery."""
