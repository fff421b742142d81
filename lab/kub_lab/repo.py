"""The lab's apt repository, laid out like pkgs.k8s.io, holding the stand-in Kubernetes packages.

Contract used by the lab service:
    ensure_repository() -> pathlib.Path
        A directory whose tree is `core:/stable:/v1.NN/deb/` for each minor version in MINORS, each with
        Packages, Release, Release.gpg, InRelease (signed by the lab GPG key), Release.key (that key's public
        part, ASCII armored) and the .deb files. Built once into a cache outside the checkout and rebuilt
        only when the stand-in sources change.
"""
