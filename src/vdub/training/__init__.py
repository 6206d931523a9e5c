"""What every network's training shares: the one training loop (resume, signals, checkpoints, loss log,
final model), the run fingerprint, resumable checkpoints, state-dict loading and the one device resolution
(``resolve_device``)."""
