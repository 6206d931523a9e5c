"""What every network's training shares: resumable checkpoints (SIGTERM-safe), state-dict loading and
the one device resolution (``resolve_device``)."""
