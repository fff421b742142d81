"""Python stand-ins for the Kubernetes node programs (kubeadm, kubelet, crictl, control plane).

Each program ships as a zip application holding this whole package; `kube.main` picks the program by
the name it was started as.
"""
