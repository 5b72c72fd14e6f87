"""Transparency log: Merkle tree maths, signed checkpoints, storage, Rekor entries, server, client."""
