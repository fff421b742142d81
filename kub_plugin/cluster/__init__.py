"""A kubeadm cluster: its settings and versions, kubeadm's configuration, the checks of its hosts, and one module per
phase (prepare, init, join, nodes, drain, reset) as plain steps over a hosts.ssh.Host."""
