"""atlas-intoto: attest ML pipelines from data to deployment."""

__version__ = "0.1.0"
