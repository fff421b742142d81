"""Dispatch on the program name (argv[0]) so one archive can serve several commands."""
import os
import sys


def main():
    name = os.path.basename(sys.argv[0])
    if name.endswith(".pyz"):
        name = name[:-4]
    from kube import util
    util.set_process_name(name)
    if name == "kubeadm":
        from kube import kubeadm as mod
    elif name == "kubelet":
        from kube import kubelet as mod
    elif name == "crictl":
        from kube import crictl as mod
    elif name == "kube-apiserver":
        from kube import apiserver as mod
    elif name == "kube-controller-manager":
        from kube import controllers as mod
    elif name == "kube-scheduler":
        from kube import components as mod
    elif name == "kube-proxy":
        from kube import proxy as mod
    elif name == "flanneld":
        from kube import flanneld as mod
    elif name == "flannel":   # the CNI plugin
        from kube import cniflannel as mod
    else:
        sys.stderr.write("unknown program name %r\n" % name)
        sys.exit(2)
    try:
        code = mod.main(sys.argv[1:])
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 0
    sys.stdout.flush()
    sys.exit(code or 0)
