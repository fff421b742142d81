"""kub's lab: Debian test hosts on one machine and a local Kubernetes package repository.

Test-only. The kub plugin never imports or knows about anything in here.
"""
