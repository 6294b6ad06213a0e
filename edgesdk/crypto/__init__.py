"""Model protection: the encrypted-model envelope (envelope.py), model keys (keys.py) and bundle
signatures (signing.py). docs/encryption.md describes the format; docs/threat-model.md what it
stops and what it does not."""
