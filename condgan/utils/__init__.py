"""Small helpers shared by callbacks and entry points (no Lightning modules, no Hydra)."""
