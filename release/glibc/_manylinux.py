"""Caps the glibc of the manylinux wheels pip picks (PEP 600's `_manylinux` hook, read by pip's tag check).

`make wagon` puts this folder on PYTHONPATH, so the wagon gets wheels that install on KUB_GLIBC (default 2.28,
the RHEL/Alma 8 family a Cloudify Manager runs on) even when built on a newer system.
"""
import os

_MAJOR, _MINOR = (int(part) for part in os.environ.get("KUB_GLIBC", "2.28").split("."))


def manylinux_compatible(tag_major, tag_minor, tag_arch):
    return (tag_major, tag_minor) <= (_MAJOR, _MINOR)
