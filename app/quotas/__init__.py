"""Per-tenant limits: active jobs, stored bytes and uploads in progress, counted from the database."""
