"""edgesdk: trained model + manifest -> versioned, parity-checked SDK bundle."""

__version__ = "0.1.0"
