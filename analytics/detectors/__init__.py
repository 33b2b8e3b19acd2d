"""The detectors; the registry (analytics.registry) names them."""
