"""kub: a Cloudify plugin that installs Kubernetes with kubeadm on existing hosts over SSH.

Its wings, each importing only those after it: cfy/ (the only code that imports cloudify), local/ (the machine
running cfy), workloads/, cluster/, hosts/; errors.py stands under them all."""
