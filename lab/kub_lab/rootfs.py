"""The hosts' shared Debian root filesystems (12 bookworm, 13 trixie): each built once with debootstrap,
cached by a hash of its recipe.

Each host mounts it read-only as the lower layer of its own overlay, so a host's disk only holds what the
host changed. Changing anything in the recipe below gives a new hash, hence a new build; old builds stay
(running labs may still use them) and can be deleted by hand when no lab is up.
"""
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from kub_lab import system

CACHE_DIR = Path("/var/cache/kub-lab")
DEFAULT_RELEASE = "bookworm"
RELEASES = ("bookworm", "trixie")     # Debian 12, Debian 13
MIRROR = "http://deb.debian.org/debian"
# python3 and python3-yaml are what the stand-ins run on: in the image, so installing the stand-in packages
# costs a host what the real (static Go) ones cost, not a Python module's install and byte-compilation too
PACKAGES = ("openssh-server", "iproute2", "procps", "sudo", "python3", "python3-yaml", "systemd", "systemd-sysv",
            "dbus", "iputils-ping", "ca-certificates", "kmod", "less", "curl", "gnupg")

# The kernel has no loadable modules; listing what it has built in lets `modprobe br_netfilter` etc. succeed.
BUILTIN_MODULES = ("kernel/fs/overlayfs/overlay.ko", "kernel/net/bridge/bridge.ko",
                   "kernel/net/bridge/br_netfilter.ko", "kernel/net/netfilter/nf_conntrack.ko",
                   "kernel/drivers/net/vxlan/vxlan.ko", "kernel/drivers/net/veth.ko",
                   "kernel/net/ipv4/netfilter/ip_tables.ko", "kernel/net/ipv4/netfilter/iptable_nat.ko",
                   "kernel/net/ipv4/netfilter/iptable_filter.ko")

SSHD_CONFIG = """\
# kub lab host: key authentication only
Include /etc/ssh/sshd_config.d/*.conf
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
UseDNS no
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
"""



def files(release):
    """path in the rootfs -> (mode, content)"""
    return {
        "etc/ssh/sshd_config": (0o644, SSHD_CONFIG),
        "etc/sudoers.d/kub": (0o440, "kub ALL=(ALL:ALL) NOPASSWD: ALL\n"),
        "etc/systemd/journald.conf.d/kub-lab.conf": (0o644, "[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n"),
        "etc/apt/apt.conf.d/01kub-lab-nokeep": (0o644, 'APT::Keep-Downloaded-Packages "false";\n'),
        "etc/apt/sources.list": (0o644, (
            f"deb {MIRROR} {release} main\n"
            f"deb {MIRROR} {release}-updates main\n"
            f"deb http://security.debian.org/debian-security {release}-security main\n")),
    }


# run inside the new rootfs (chroot), in order
COMMANDS = (
    "useradd --create-home --shell /bin/bash kub",
    "usermod --password '*' kub",                       # no password, but not locked
    "useradd --create-home --shell /bin/bash --groups sudo kubpw",   # its password is set at each boot
    "rm -f /etc/ssh/ssh_host_*",                        # each host gets its own key at boot
    "systemctl mask apt-daily.timer apt-daily-upgrade.timer",   # no surprise dpkg locks during tests
    "mkdir -p /var/lib/containerd",                     # mount point for the host's plain containerd dir
    "truncate -s 0 /etc/machine-id",
    "apt-get clean",
    "rm -rf /var/lib/apt/lists/*",
)


def kernel_release():
    return os.uname().release


def check_release(release):
    if release not in RELEASES:
        raise system.LabError(f"Debian release {release!r} is not one the lab builds; use one of {', '.join(RELEASES)}")
    return release


def recipe(release=DEFAULT_RELEASE):
    # bookworm's recipe has no "release" key: its hash, hence its cached build, stays what it was
    suite = {"suite": release} if release == DEFAULT_RELEASE else {"suite": release, "release": release}
    return {**suite, "mirror": MIRROR, "packages": PACKAGES, "files": files(release), "commands": COMMANDS,
            "modules": BUILTIN_MODULES, "kernel": kernel_release()}


def recipe_hash(release=DEFAULT_RELEASE):
    return hashlib.sha256(json.dumps(recipe(check_release(release)), sort_keys=True).encode()).hexdigest()[:16]


def rootfs_path(release=DEFAULT_RELEASE):
    return CACHE_DIR / f"rootfs-{recipe_hash(release)}"


def is_built(release=DEFAULT_RELEASE):
    return rootfs_path(release).is_dir()


def ensure_rootfs(release=DEFAULT_RELEASE, log=sys.stderr):
    """Path of the built rootfs of a Debian release; builds it first if needed (one builder at a time, others
    wait)."""
    final = rootfs_path(release)
    if final.is_dir():
        return final
    with system.flock(CACHE_DIR / "rootfs.lock"):
        if final.is_dir():
            return final
        for stale in CACHE_DIR.glob("rootfs-*.tmp"):   # an interrupted build; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        tmp = final.with_name(final.name + ".tmp")
        print(f"kub-lab: building the hosts' Debian {release} rootfs in {final} (once, about a minute)", file=log)
        try:
            _build(tmp, release)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _build(target, release):
    debs = CACHE_DIR / "debootstrap-debs"
    debs.mkdir(parents=True, exist_ok=True)
    system.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", f"--cache-dir={debs}",
                release, str(target), MIRROR], timeout=1800)
    for rel, (mode, content) in files(release).items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(mode)
    modules = target / "lib/modules" / kernel_release()
    modules.mkdir(parents=True, exist_ok=True)
    (modules / "modules.order").write_text("")
    (modules / "modules.builtin").write_text("".join(m + "\n" for m in BUILTIN_MODULES))
    system.run(["chroot", str(target), "depmod", kernel_release()])
    for command in COMMANDS:
        system.run(["chroot", str(target), "/bin/sh", "-c", command], timeout=300)
