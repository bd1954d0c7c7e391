"""Vision models: backbones, cached features, probes (vpt probe)."""
