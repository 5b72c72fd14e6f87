"""Attest ML work from inside the frameworks that do it.

* :mod:`atlas_intoto.integrations.training` — framework-neutral engine: materials measured when
  training starts, every checkpoint attested on a background worker as it is saved, one link
  for the whole run at the end (needs nothing beyond the core package).
* :mod:`atlas_intoto.integrations.torch` — a context manager around a PyTorch training loop with
  ``torch.save`` / safetensors helpers (extra ``[torch]``).
* :mod:`atlas_intoto.integrations.hf` — a ``transformers`` ``TrainerCallback`` (extra ``[hf]``).
* :mod:`atlas_intoto.integrations.kubeflow` — a KFP v2 component decorator (extra ``[kubeflow]``).

Importing this package imports no ML framework; each submodule imports only its own.
"""

from __future__ import annotations
