"""A lab: Debian 12 (or 13) hosts on this machine, each with its own IP, disk, hostname, systemd and sshd.

Lab `index` K (0..255) owns: bridge kublabK with 10.231.K.1/24, host i (1-based) at 10.231.K.(10+i) in
network namespace kubKhi (root-side veth kubKvi), hostname kubhi; nft tables kublabK*; cgroups
/sys/fs/cgroup/<ctrl>/kublabK/; state in /var/lib/kub-lab/K/. Labs with different indexes run side by side.
Shared caches (rootfs, apt packages) live in /var/cache/kub-lab/.

A host's identity (ssh host key, machine-id) is kept outside its disk, so `wipe` gives a fresh disk on the
same host. Disks survive `down`: the next `up` is a reboot of the same hosts.

This module holds the lab's life (up, down, status, exec), its network, boot and service. Host identities
are in `identity.py` and fault injection in `faults.py`, both mixed into Lab.
"""
import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from kub_lab import registry, rootfs, system
from kub_lab.faults import Faults
from kub_lab.identity import Identities, hostname
from kub_lab.system import LabError

STATE_ROOT = Path("/var/lib/kub-lab")
CACHE_DIR = rootfs.CACHE_DIR
SERVICE_PORT = 3142
MAX_HOSTS = 64
MAX_INDEX = 255
KUBERNETES_VERSION = "1.36"
# blueprint inputs for containerd 2 from its upstream release files and the cgroup v1 opt-in; `inputs()` adds
# them (Lab.containerd_inputs)
CONTAINERD_INPUTS = ("allow_cgroup_v1", "containerd_source", "containerd_version", "runc_version",
                     "containerd_url", "runc_url", "containerd_unit_url")
HOSTINIT = Path(__file__).resolve().with_name("hostinit.sh")
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# many systemd hosts share root's inotify-instance quota (default 128): raised while any lab is up
INOTIFY_KEY = "fs.inotify.max_user_instances"
INOTIFY_RAISED = 8192


def _index_from_env():
    raw = os.environ.get("KUB_LAB_INDEX", "0")
    try:
        return int(raw)
    except ValueError:
        raise LabError(f"KUB_LAB_INDEX={raw!r} is not a number; set it to 0..{MAX_INDEX}")


class Lab(Identities, Faults):
    def __init__(self, index=None):
        index = _index_from_env() if index is None else index
        if isinstance(index, str) and index.isdigit():
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_INDEX:
            raise LabError(f"lab index {index!r} is out of range; use 0..{MAX_INDEX}")
        self.index = index
        self.bridge = f"kublab{index}"
        self.bridge_ip = f"10.231.{index}.1"
        self.service_url = f"http://{self.bridge_ip}:{SERVICE_PORT}"
        self.registry_url = f"http://{self.bridge_ip}:{registry.PORT}"
        self.package_repository_url = self.service_url + "/core:/stable:/v{version}/deb/"
        self.package_repository_key_url = self.service_url + "/core:/stable:/v{version}/deb/Release.key"
        self.kubectl_url = self.service_url + "/dl.k8s.io/release/v{version}/bin/linux/{arch}/kubectl"
        self.state_dir = STATE_ROOT / str(index)
        self.ssh_private_key_path = str(self.state_dir / "id_ed25519")
        self.known_hosts_path = str(self.state_dir / "known_hosts")
        self._cgroup = f"kublab{index}"
        self._config_path = self.state_dir / "lab.json"
        self._service_pid_path = self.state_dir / "service.pid"

    def __repr__(self):
        return f"Lab(index={self.index})"

    # ---- names -----------------------------------------------------------------------------------

    def host_ip(self, i):
        return f"10.231.{self.index}.{10 + i}"

    def _netns(self, i):
        return f"kub{self.index}h{i}"

    def _veth(self, i):
        return f"kub{self.index}v{i}"

    def _host_cgroup(self, i):
        return f"{self._cgroup}/kub{self.index}h{i}"

    def _host_dir(self, i):
        return self.state_dir / "hosts" / f"h{i}"

    def _mac(self, i, end):
        return f"02:6b:{self.index:02x}:{i:02x}:00:{end:02x}"

    # ---- state -----------------------------------------------------------------------------------

    def _config(self):
        try:
            return json.loads(self._config_path.read_text())
        except FileNotFoundError:
            return None

    def _write_config(self, config):
        tmp = self._config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config))
        tmp.replace(self._config_path)   # readers never see half a file

    def _host_count(self):
        config = self._config()
        return config["hosts"] if config else 0

    @staticmethod
    def _host_rootfs(config, i):
        return Path((config.get("rootfs_by_host") or {}).get(str(i), config["rootfs"]))

    def host_release(self, i):
        """The Debian release host i runs ("bookworm" or "trixie")."""
        self._require_host_number(i)
        return (self._config().get("releases") or {}).get(str(i), rootfs.DEFAULT_RELEASE)

    def is_up(self):
        return self._config() is not None and system.link_exists(self.bridge)

    def _init_pid(self, i):
        """Global pid of host i's PID 1 (systemd), or None when the host is not running."""
        try:
            pid = int((self._host_dir(i) / "run" / "init.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
        ns = system.nspid(pid)
        if len(ns) < 2 or ns[-1] != 1 or not system.process_alive(pid):
            return None
        if f"/{self._host_cgroup(i)}" not in system.process_cgroup(pid):
            return None
        return pid

    def _power_pid_file(self, i):
        try:
            return int((self._host_dir(i) / "run" / "power.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _power_pid(self, i):
        pid = self._power_pid_file(i)
        if pid is None:
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return None
        return pid if b"hostinit.sh" in cmdline and system.process_alive(pid) else None

    def _service_pid(self):
        try:
            pid = int(self._service_pid_path.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid if b"kub_lab.service" in cmdline and system.process_alive(pid) else None

    def hosts(self):
        """Indexes of the hosts that are running."""
        return [i for i in range(1, self._host_count() + 1) if self._init_pid(i)]

    def status(self):
        count = self._host_count()
        service_pid = self._service_pid()
        isolated = self.isolated() if self.is_up() else []
        return {
            "index": self.index,
            "up": self.is_up(),
            "bridge_ip": self.bridge_ip,
            "service": {"url": self.service_url, "pid": service_pid, "running": service_pid is not None,
                        "repository": (self._config() or {}).get("repository"),
                        "releases": (self._config() or {}).get("releases_dir")},
            "registry": {"url": self.registry_url, "images": (self._config() or {}).get("registry_dir")},
            "state_dir": str(self.state_dir),
            "hosts": {i: {"ip": self.host_ip(i), "hostname": hostname(i), "up": self._init_pid(i) is not None,
                          "pid": self._init_pid(i), "isolated": i in isolated,
                          "release": ((self._config() or {}).get("releases") or {}).get(str(i),
                                                                                        rootfs.DEFAULT_RELEASE)}
                      for i in range(1, count + 1)},
        }

    # ---- checks ----------------------------------------------------------------------------------

    def _check_machine(self):
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, mounts, cgroups); run it as root or with sudo")
        missing = system.missing_tools()
        if missing:
            raise LabError(f"missing tools: {', '.join(missing)}; install them "
                           "(apt-get install iproute2 nftables util-linux debootstrap openssh-client openssl)")
        for ctrl in system.CGROUP_CONTROLLERS:
            if not (system.CGROUP_ROOT / ctrl / "cgroup.procs").exists():
                raise LabError(f"cgroup hierarchy {system.CGROUP_ROOT / ctrl} is missing; "
                               "the lab needs the machine's cgroup v1 (hybrid) layout")

    def _leftovers(self):
        """Anything of this lab that exists on the machine (used to refuse a second `up`)."""
        found = []
        if self._config_path.exists():
            found.append(str(self._config_path))
        if system.link_exists(self.bridge):
            found.append(f"bridge {self.bridge}")
        found += [f"netns {n}" for n in self._netns_found()]
        found += [f"link {n}" for n in self._veths_found()]
        found += [f"nft table {f} {n}" for f, n in self._nft_tables_found()]
        if (system.CGROUP_ROOT / "pids" / self._cgroup).exists():
            found.append(f"cgroup {self._cgroup}")
        if self._service_pid():
            found.append("service")
        return found

    def _require_up(self):
        self._check_machine()
        if not self.is_up():
            raise LabError(f"lab {self.index} is not up; start it with `kub-lab --index {self.index} up N`")

    def _require_host_number(self, i):
        self._require_up()
        count = self._host_count()
        if not isinstance(i, int) or not 1 <= i <= count:
            raise LabError(f"lab {self.index} has hosts 1..{count}; there is no host {i}")

    def _require_host(self, i):
        """PID 1 of host i; a one-line LabError if the host is not running."""
        self._require_host_number(i)
        pid = self._init_pid(i)
        if pid is None:
            raise LabError(f"host {i} of lab {self.index} is not running; "
                           f"power it on with `kub-lab --index {self.index} boot {i}`")
        return pid

    # ---- up / down -------------------------------------------------------------------------------

    def up(self, n=3, fresh=False, release=rootfs.DEFAULT_RELEASE, releases=None):
        """Start n hosts (1..64) and the lab service; returns when every host answers ssh.
        Hosts boot from the disks they had (a reboot) unless fresh: then all start with empty disks.
        release: the Debian release of every host ("bookworm" or "trixie"); releases: {host: release} for
        single hosts, e.g. {2: "trixie"}."""
        self._check_machine()
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_HOSTS:
            raise LabError(f"host count {n!r} is out of range; use 1..{MAX_HOSTS}")
        host_releases = host_release_map(n, release, releases)
        with system.flock(STATE_ROOT / f"{self.index}.lock"):
            leftovers = self._leftovers()
            if leftovers:
                raise LabError(f"lab {self.index} is already up ({', '.join(leftovers[:3])}); "
                               f"stop it first with `kub-lab --index {self.index} down`")
            used = system.addresses_in(f"10.231.{self.index}.")
            if used:
                raise LabError(f"10.231.{self.index}.0/24 is already used on this machine ({used[0]}); "
                               "pick another lab index")
            try:
                self._up(n, fresh, host_releases)
            except BaseException:
                self._teardown()
                raise

    def _up(self, n, fresh, host_releases):
        built = {r: rootfs.ensure_rootfs(r) for r in sorted(set(host_releases.values()))}
        rootfs_dir = built.get(rootfs.DEFAULT_RELEASE) or built[host_releases[1]]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)
        self._ensure_client_identity()
        for i in range(1, n + 1):
            self._ensure_host_identity(i)
            if fresh:
                shutil.rmtree(self._host_dir(i) / "disk", ignore_errors=True)
        config = {"hosts": n, "rootfs": str(rootfs_dir),
                  "releases": {str(i): r for i, r in host_releases.items()},
                  "rootfs_by_host": {str(i): str(built[r]) for i, r in host_releases.items()}}
        self._write_config(config)
        self._network_up()
        self._hold_sysctls()
        system.cgroup_create(self._cgroup)

        repo = {}
        builders = [threading.Thread(target=lambda: repo.update(dir=self._repository_dir()), daemon=True),
                    threading.Thread(target=lambda: repo.update(releases=_releases_dir()), daemon=True),
                    threading.Thread(target=lambda: repo.update(registry=_registry_dir()), daemon=True)]
        for builder in builders:
            builder.start()
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, n)) as pool:
            list(pool.map(lambda i: self._start_host(i, self._host_rootfs(config, i), n), range(1, n + 1)))
        for builder in builders:
            builder.join()
        config["repository"] = str(repo["dir"])
        config["releases_dir"] = str(repo["releases"]) if repo.get("releases") else None
        config["registry_dir"] = str(repo["registry"]) if repo.get("registry") else None
        self._write_config(config)
        self._start_service(repo["dir"], repo.get("releases"))
        if repo.get("registry"):
            self._start_registry(repo["registry"])
        self.write_known_hosts(self.known_hosts_path)
        self._wait_ssh(range(1, n + 1))

    def down(self):
        """Stop everything of this lab (also the leftovers of a crashed run). Host disks are kept."""
        self._check_machine()
        with system.flock(STATE_ROOT / f"{self.index}.lock"):
            self._teardown()

    def _teardown(self):
        hosts = set(range(1, self._host_count() + 1))
        hosts |= {int(re.fullmatch(rf"kub{self.index}h(\d+)", n).group(1)) for n in self._netns_found()}
        hosts |= {int(re.fullmatch(rf"kub{self.index}v(\d+)", n).group(1)) for n in self._veths_found()}
        self._stop_hosts(sorted(hosts))
        self._stop_service()
        if system.link_exists(self.bridge):
            system.run(["ip", "link", "del", self.bridge])
        for family, name in self._nft_tables_found():
            system.nft_delete_table(family, name)
        self._remove_cgroup(self._cgroup)
        self._release_sysctls()
        self._config_path.unlink(missing_ok=True)

    def _netns_found(self):
        return [n for n in system.netns_list() if re.fullmatch(rf"kub{self.index}h\d+", n)]

    def _veths_found(self):
        return system.links_matching(rf"kub{self.index}v\d+")

    def _nft_tables_found(self):
        return [(f, n) for f, n in system.nft_tables() if re.fullmatch(rf"kublab{self.index}(\D.*)?", n)]

    def inputs(self, examples=False):
        """Inputs for the project's barevm-blueprint.yaml, pointing at this lab; with `examples`, also those of the
        examples' blueprints (the web app's image, from the lab's registry)."""
        self._require_up()
        count = self._host_count()
        values = {
            "master_ip": self.host_ip(1),
            "minion_ips": [self.host_ip(i) for i in range(2, count + 1)],
            "ssh_user": "root",
            "ssh_private_key_path": self.ssh_private_key_path,
            "ssh_known_hosts_path": self.write_known_hosts(self.known_hosts_path),
            "package_repository_url": self.package_repository_url,
            "package_repository_key_url": self.package_repository_key_url,
            "kubernetes_version": KUBERNETES_VERSION,
            # the lab's mirror (repository, containerd's files) is plain http on the lab's own bridge
            "allow_plain_http": True,
        }
        cni_manifest = _cni_manifest()
        if cni_manifest is not None:
            values["cni_manifest"] = str(cni_manifest)
        values.update(self.containerd_inputs())
        if (self._config() or {}).get("registry_dir"):
            # containerd pulls the images of both registries from the lab's (plain http, on the lab's bridge)
            mirror = {"mirrors": [self.registry_url], "plain_http": True}
            values["registry_mirrors"] = {"registry.k8s.io": mirror, "docker.io": dict(mirror)}
            if examples:
                values["web_image"] = registry.IMAGE_NAMES["web"]
        # etcd's release as the lab serves it (the binaries of its etcd image), for kub_backup and kub_restore
        values["etcd_url"] = (self.service_url + "/github.com/etcd-io/etcd/releases/download/v{version}/"
                                                 "etcd-v{version}-linux-{arch}.tar.gz")
        return values

    def kubeconfig_inputs(self, kubeconfig_file):
        """Inputs for examples/app-on-cluster-by-kubeconfig.yaml: a cluster's kubeconfig on this machine, the
        upstream kubectl of every minor the lab serves at dl.k8s.io's layout (plain http on the lab's bridge), and the
        web app's image from the lab's registry."""
        self._require_up()
        values = {"kubeconfig_file": str(kubeconfig_file), "kubectl_url": self.kubectl_url, "allow_plain_http": True}
        if (self._config() or {}).get("registry_dir"):
            values["web_image"] = registry.IMAGE_NAMES["web"]   # the lab registry's web server
        return values

    def containerd_inputs(self):
        """The inputs in CONTAINERD_INPUTS: containerd 2 and runc from this lab's release files, and the cgroup
        v1 opt-in (the lab's hosts are cgroup v1). The URL templates keep a literal {version}, {runc_version}
        and {arch} for kub to fill in; the versions are what the lab built (left out while it has none)."""
        self._require_up()
        built = {}
        releases_dir = (self._config() or {}).get("releases_dir")
        if releases_dir:
            from kub_lab import releases
            built = releases.versions(releases_dir)
        values = {
            "allow_cgroup_v1": True,
            "containerd_source": "release",
            "containerd_version": built.get("containerd"),
            "runc_version": built.get("runc"),
            "containerd_url": self.service_url + "/github.com/containerd/containerd/releases/download/v{version}/"
                                                 "containerd-{version}-linux-{arch}.tar.gz",
            "runc_url": self.service_url + "/github.com/opencontainers/runc/releases/download/v{runc_version}/"
                                           "runc.{arch}",
            "containerd_unit_url": self.service_url + "/raw.githubusercontent.com/containerd/containerd/"
                                                      "v{version}/containerd.service",
        }
        return {k: v for k, v in values.items() if v is not None}

    # ---- network ---------------------------------------------------------------------------------

    def _network_up(self):
        system.ip_batch([
            f"link add {self.bridge} address {self._mac(0, 1)} type bridge",
            f"addr add {self.bridge_ip}/24 dev {self.bridge}",
            f"link set {self.bridge} up",
        ])
        # Hosts may reach the root namespace only on the lab service port: the machine has daemons on
        # 0.0.0.0. Everything else is rejected at once (fast failures, no hangs). Nothing is routed out of
        # the lab or into it from another lab's bridge.
        br, subnet = self.bridge, f"10.231.{self.index}.0/24"
        system.nft_apply(f"""
table inet {self._cgroup} {{
  chain input {{
    type filter hook input priority 0; policy accept;
    iifname "{br}" ct state established,related accept
    iifname "{br}" ip daddr {self.bridge_ip} tcp dport {{ {SERVICE_PORT}, {registry.PORT} }} accept
    iifname "{br}" meta l4proto icmp accept
    iifname "{br}" meta l4proto ipv6-icmp accept
    iifname "{br}" meta l4proto tcp reject with tcp reset
    iifname "{br}" reject
  }}
  chain forward {{
    type filter hook forward priority 0; policy accept;
    iifname "{br}" oifname != "{br}" reject
    oifname "{br}" iifname != "{br}" reject
    ip saddr {subnet} ip daddr != {subnet} iifname "{br}" reject
  }}
}}
""")

    # ---- hosts -----------------------------------------------------------------------------------

    def _start_host(self, i, rootfs_dir, count):
        """Power on host i: fresh network namespace and cgroups, then its init (which becomes systemd)."""
        ns, veth = self._netns(i), self._veth(i)
        system.run(["ip", "netns", "add", ns])
        system.ip_batch([
            f"link add {veth} address {self._mac(i, 1)} type veth peer name eth0 address {self._mac(i, 2)} netns {ns}",
            f"link set {veth} master {self.bridge} up",
        ])
        system.ip_batch([
            "link set lo up",
            "link set eth0 up",
            f"addr add {self.host_ip(i)}/24 dev eth0",
            f"route add default via {self.bridge_ip}",
        ], netns=ns)
        system.cgroup_create(self._host_cgroup(i))
        run_dir = self._prepare_run_dir(i, rootfs_dir, count)
        pid = system.spawn_detached(["/bin/sh", str(HOSTINIT), "power", str(run_dir)], run_dir / "console.log",
                                    env={"PATH": HOST_PATH, "LANG": "C.UTF-8"})
        (run_dir / "power.pid").write_text(f"{pid}\n")

    def _prepare_run_dir(self, i, rootfs_dir, count):
        host_dir = self._host_dir(i)
        disk, run_dir = host_dir / "disk", host_dir / "run"
        # a disk made on another rootfs build does not fit this one: start it fresh
        lower_mark = host_dir / "disk.rootfs"
        if disk.exists() and lower_mark.exists() and lower_mark.read_text().strip() != str(rootfs_dir):
            print(f"kub-lab: host {i}: the rootfs changed, its disk starts fresh", file=sys.stderr)
            shutil.rmtree(disk)
        disk.mkdir(exist_ok=True)
        lower_mark.write_text(f"{rootfs_dir}\n")
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir()

        files = _Staging(run_dir / "files", rootfs_dir)
        self._stage_identity(files, i, count)
        # nothing answers DNS on the bridge: lookups fail fast (127.0.0.1 would make CoreDNS see a loop)
        files.add("etc/resolv.conf", f"nameserver {self.bridge_ip}\n")
        files.add("etc/apt/apt.conf.d/00kub-lab-proxy", f'Acquire::http::Proxy "{self.service_url}";\n')
        files.finish()

        cgroups = " ".join(str(d) for d in system.cgroup_dirs(self._host_cgroup(i)))
        (run_dir / "boot.env").write_text(
            f"NETNS='{self._netns(i)}'\nCGROUPS='{cgroups}'\nROOTFS='{rootfs_dir}'\n"
            f"DISK='{disk}'\nHOST_NAME='{hostname(i)}'\n")
        shutil.copy(self.state_dir / "kubpw.hash", run_dir / "kubpw.hash")
        return run_dir

    def _stop_hosts(self, indexes):
        """Power off hosts at once: kill their PID 1 (takes the whole PID namespace down) and anything else
        in their cgroups, remove their cgroups, network namespaces and veths. Disks stay."""
        for i in indexes:
            for pid in (self._power_pid(i), self._init_pid(i)):
                if pid:
                    system.kill(pid)

        def empty():
            alive = [pid for i in indexes for pid in system.cgroup_pids(self._host_cgroup(i))]
            for pid in alive:
                system.kill(pid)
            return not alive
        if not system.wait_until(empty, timeout=20, interval=0.05):
            raise LabError(f"processes of lab {self.index} did not die within 20s; try `down` again")
        present_netns = set(system.netns_list())
        system.ip_batch([f"link del {self._veth(i)}" for i in indexes if system.link_exists(self._veth(i))])
        system.ip_batch([f"netns del {self._netns(i)}" for i in indexes if self._netns(i) in present_netns])
        for i in indexes:
            self._remove_cgroup(self._host_cgroup(i))
            for name in ("power.pid", "init.pid"):
                (self._host_dir(i) / "run" / name).unlink(missing_ok=True)

    def _remove_cgroup(self, relpath):
        if not system.wait_until(lambda: system.cgroup_remove(relpath), timeout=10, interval=0.05):
            raise LabError(f"cgroup {relpath} could not be removed (processes left?); try `down` again")

    def _wait_ssh(self, indexes, timeout=None):
        indexes = list(indexes)
        timeout = timeout or 60 + 2 * len(indexes)
        deadline = time.monotonic() + timeout

        def wait_one(i):
            # the power process was just started, so its pid file is fresh and whether it lives is all that
            # matters (its /proc/PID/cmdline, which _power_pid checks against stale pid files, can read empty
            # for a moment under load)
            power = self._power_pid_file(i)
            while time.monotonic() < deadline:
                if _ssh_banner(self.host_ip(i)):
                    return None
                if not (power and system.process_alive(power)) and not self._init_pid(i):
                    log = self._host_dir(i) / "run" / "console.log"
                    return f"host {i} of lab {self.index} stopped while booting; see {log}"
                time.sleep(0.05)
            return f"host {i} of lab {self.index} did not answer ssh within {timeout}s"

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(indexes))) as pool:
            problems = [p for p in pool.map(wait_one, indexes) if p]
        if problems:
            raise LabError(problems[0])

    # ---- lab service -----------------------------------------------------------------------------

    def _repository_dir(self):
        """The stand-in Kubernetes package repository; an empty one while it cannot be had."""
        try:
            from kub_lab import repo
            ensure = getattr(repo, "ensure_repository", None)
            if ensure is not None:
                return Path(ensure())
        except (ImportError, NotImplementedError):
            pass
        except Exception as e:   # a broken repository must not keep the lab from running
            print(f"kub-lab: warning: package repository unavailable ({type(e).__name__}: {e}); "
                  "serving an empty one", file=sys.stderr)
        empty = CACHE_DIR / "empty-repository"
        empty.mkdir(parents=True, exist_ok=True)
        return empty

    def _start_service(self, repo_dir, releases_dir=None):
        log = self.state_dir / "service.log"
        env = dict(os.environ)
        package_parent = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        pid = system.spawn_detached(
            [sys.executable, "-m", "kub_lab.service", "--bind", self.bridge_ip, "--port", str(SERVICE_PORT),
             "--cache", str(CACHE_DIR / "aptcache"), "--repo", str(repo_dir)]
            + (["--releases", str(releases_dir)] if releases_dir else []), log, env=env)
        self._service_pid_path.write_text(f"{pid}\n")
        system.cgroup_create(f"{self._cgroup}/service")
        system.cgroup_join(pid, f"{self._cgroup}/service")

        def listening():
            try:
                socket.create_connection((self.bridge_ip, SERVICE_PORT), timeout=0.5).close()
                return True
            except OSError:
                return False
        if not system.wait_until(lambda: listening() or not system.process_alive(pid), timeout=15):
            raise LabError(f"lab service did not start listening within 15s; see {log}")
        if not system.process_alive(pid):
            raise LabError(f"lab service exited at start; see {log}")

    def _start_registry(self, directory):
        """The image registry (kub_lab.registry) on the bridge, in the service's cgroup: it stops with it."""
        config, log = self.state_dir / "registry.yml", self.state_dir / "registry.log"
        config.write_text(registry.config(directory, f"{self.bridge_ip}:{registry.PORT}"))
        pid = system.spawn_detached([str(registry.binary(directory)), "serve", str(config)], log)
        system.cgroup_join(pid, f"{self._cgroup}/service")

        def listening():
            try:
                socket.create_connection((self.bridge_ip, registry.PORT), timeout=0.5).close()
                return True
            except OSError:
                return False
        if not system.wait_until(lambda: listening() or not system.process_alive(pid), timeout=15) or \
                not system.process_alive(pid):
            raise LabError(f"the lab's image registry did not start listening on {self.registry_url}; see {log}")

    def _stop_service(self):
        pid = self._service_pid()
        if pid:
            system.kill(pid, signal.SIGTERM)
            if not system.wait_until(lambda: not system.process_alive(pid), timeout=5):
                system.kill(pid)
        self._service_pid_path.unlink(missing_ok=True)
        for pid in system.cgroup_pids(f"{self._cgroup}/service"):
            system.kill(pid)

    # ---- sysctls shared by all labs --------------------------------------------------------------

    def _hold_sysctls(self):
        """Raise the inotify limit while this lab is up; the value from before the first lab is kept."""
        registry = STATE_ROOT / "sysctl"
        with system.flock(STATE_ROOT / "sysctl.lock"):
            (registry / "holders").mkdir(parents=True, exist_ok=True)
            original = registry / INOTIFY_KEY
            if not original.exists():
                original.write_text(system.sysctl_get(INOTIFY_KEY) + "\n")
            (registry / "holders" / str(self.index)).touch()
            if int(system.sysctl_get(INOTIFY_KEY)) < INOTIFY_RAISED:
                system.sysctl_set(INOTIFY_KEY, INOTIFY_RAISED)

    def _release_sysctls(self):
        """Give back the inotify limit; the last lab going down restores the original value."""
        registry = STATE_ROOT / "sysctl"
        with system.flock(STATE_ROOT / "sysctl.lock"):
            (registry / "holders" / str(self.index)).unlink(missing_ok=True)
            holders = registry / "holders"
            others = [h for h in (holders.iterdir() if holders.exists() else [])
                      if system.link_exists(f"kublab{h.name}")]   # a holder without its bridge is stale
            original = registry / INOTIFY_KEY
            if not others and original.exists():
                system.sysctl_set(INOTIFY_KEY, original.read_text().strip())
                original.unlink()
                shutil.rmtree(holders, ignore_errors=True)

    # ---- running commands in hosts ---------------------------------------------------------------

    def exec_argv(self, i, cmd, term="dumb"):
        """argv that runs cmd (argv list, or a shell string) as root in host i, in all its namespaces."""
        pid = self._require_host(i)
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return ["nsenter", "-t", str(pid), "-a", "env", "-i", f"PATH={HOST_PATH}", "HOME=/root",
                "LANG=C.UTF-8", f"TERM={term}"] + argv

    def exec(self, i, cmd, check=True, input=None, timeout=60):
        """Run cmd in host i as root; returns CompletedProcess (text). check=True raises CalledProcessError."""
        argv = self.exec_argv(i, cmd)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)   # also reaches the command inside the host
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(argv, timeout, out, err)
        result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
        if check:
            result.check_returncode()
        return result


class _Staging:
    """Files to copy over a host's root at boot, with the owners and modes they must have there."""

    def __init__(self, top, rootfs_dir):
        self.top, self.rootfs = Path(top), Path(rootfs_dir)
        self.users = {}
        for line in (self.rootfs / "etc/passwd").read_text().splitlines():
            name, _, uid, gid = line.split(":")[:4]
            self.users[name] = (int(uid), int(gid))
        self.new_dirs = {}

    def add(self, rel, content, mode=0o644, user="root", dir_mode=0o755):
        path = self.top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(mode)
        os.chown(path, *self.users[user])
        self.new_dirs.setdefault(Path(rel).parent, (dir_mode, self.users[user]))

    def finish(self):
        """Directories copy their mode and owner from the rootfs (cp -a keeps them); new ones as asked."""
        for d in sorted(p for p in self.top.rglob("*") if p.is_dir()):
            rel = d.relative_to(self.top)
            existing = self.rootfs / rel
            if existing.is_dir() and not existing.is_symlink():
                st = existing.stat()
                d.chmod(st.st_mode & 0o7777)
                os.chown(d, st.st_uid, st.st_gid)
            elif rel in self.new_dirs:
                mode, owner = self.new_dirs[rel]
                d.chmod(mode)
                os.chown(d, *owner)
        self.top.chmod(0o755)


def host_release_map(n, release=rootfs.DEFAULT_RELEASE, releases=None):
    """{host: Debian release} for hosts 1..n: `release` for all, `releases` ({host: release}) for some."""
    rootfs.check_release(release)
    out = {i: release for i in range(1, n + 1)}
    for i, r in (releases or {}).items():
        if isinstance(i, str) and i.isdigit():
            i = int(i)
        if isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= n:
            raise LabError(f"release given for host {i!r}, but the lab has hosts 1..{n}")
        out[i] = rootfs.check_release(r)
    return out


def parse_releases(text):
    """`trixie` (every host), `2=trixie,3=trixie` (some hosts) or both (`trixie,1=bookworm`)
    -> (release, {host: release})."""
    release, found = rootfs.DEFAULT_RELEASE, {}
    for part in text.split(","):
        host, sep, name = part.rpartition("=")
        if sep and not host.strip().isdigit():
            raise LabError(f"--release {text!r}: write RELEASE and/or HOST=RELEASE, comma separated, e.g. 2=trixie")
        if sep:
            found[int(host)] = rootfs.check_release(name.strip())
        else:
            release = rootfs.check_release(name.strip())
    return release, found


def _ssh_banner(ip):
    """True when an ssh server answers on ip:22 (its banner arrives)."""
    try:
        with socket.create_connection((ip, 22), timeout=0.5) as sock:
            sock.settimeout(2)
            return sock.recv(4) == b"SSH-"
    except OSError:
        return False


def _releases_dir():
    """The containerd/runc release files (kub_lab.releases); None, with a warning, while they cannot be had."""
    try:
        from kub_lab import releases
        return releases.ensure_releases()
    except Exception as e:   # the lab runs without them; installs that need them fail on the missing URLs
        print(f"kub-lab: warning: containerd/runc releases unavailable ({type(e).__name__}: {e}); "
              "the service does not serve them", file=sys.stderr)
        return None


def _registry_dir():
    """The image registry's directory (kub_lab.registry); None, with a warning, while it cannot be had."""
    try:
        return registry.ensure_registry()
    except Exception as e:   # the lab runs without it; pods whose images it would serve cannot start
        print(f"kub-lab: warning: image registry unavailable ({type(e).__name__}: {e}); not started",
              file=sys.stderr)
        return None


def _cni_manifest():
    try:
        from kub_lab import repo
    except ImportError:
        return None
    return getattr(repo, "CNI_MANIFEST", None)
