"""The verification service: one HTTP verifier and deployment gate for a whole organisation.

``atlas-intoto serve`` answers ``POST /v1/verify`` (one bundle), ``POST /v1/verify-batch`` and
``POST /v1/admission`` (a Kubernetes ValidatingAdmissionWebhook) under named policies
(:mod:`.config`), with bearer tokens or mTLS (:mod:`.auth`), a verify cache shared by its
worker processes, Prometheus metrics (:mod:`.metrics`) and an OpenAPI description
(:mod:`.openapi`). ``atlas-intoto gate`` is its client (:mod:`.client`).
"""
