"""Workloads: Kubernetes objects a blueprint node owns (their model, ownership and readiness), the kubectl steps that
apply and delete them, and the kubectl commands of the kub_* workflows."""
