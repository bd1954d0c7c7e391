"""Decision makers: whatever answers items and writes trial rows (baselines today; probes,
fine-tuned networks, VLMs and human sessions later)."""
