"""``tessera predict`` (propensity, recommendations) and ``tessera ml`` (promote, rollback)."""
