"""The volume services (Cinder): volumes, their snapshots and attachments, and their recovery."""
