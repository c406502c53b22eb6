"""Active health checking: probes (checks), the per-target state machine (state), the runner."""
