"""What runs on the machine running cfy: downloads and their cache (with the address guard), the package index,
containerd's releases, kubeconfig files, and the manifests a blueprint names."""
