#!/bin/sh
# Power and boot of one lab host. The lab (Python) prepares RUN_DIR, then starts `hostinit.sh power RUN_DIR`.
#
#   power RUN_DIR  root namespace: joins the host's cgroups, then runs `boot` as PID 1 of new mount, UTS,
#                  IPC, PID and cgroup namespaces inside the host's network namespace. When the host reboots
#                  itself (its PID 1 dies of SIGHUP) it boots again; any other end is a power-off.
#   boot RUN_DIR   PID 1: mounts the host's overlay root and pseudo filesystems, copies the host's identity
#                  files in, pivots into the new root and becomes systemd.
#
# RUN_DIR/boot.env sets NETNS, CGROUPS, ROOTFS, DISK, HOST_NAME; RUN_DIR/files/ is copied over the root;
# RUN_DIR/kubpw.hash is the password hash for user kubpw.
set -eu

stage=$1
run_dir=$2
# shellcheck source=/dev/null
. "$run_dir/boot.env"

power() {
  for cgroup in $CGROUPS; do
    echo $$ > "$cgroup/cgroup.procs"
  done
  while :; do
    rc=0
    nsenter --net="/run/netns/$NETNS" \
      unshare --mount --uts --ipc --pid --cgroup --fork --propagation private /bin/sh "$0" boot "$run_dir" || rc=$?
    if [ "$rc" -ne 129 ]; then          # 128 + SIGHUP: the host rebooted itself; anything else is the end
      echo "hostinit: $HOST_NAME powered off (exit status $rc)"
      exit "$rc"
    fi
    echo "hostinit: $HOST_NAME rebooted"
  done
}

boot() {
  # /proc is still the root namespace's here, so /proc/self/stat gives our pid as the lab sees it
  read -r global_pid _ < /proc/self/stat
  echo "$global_pid" > "$run_dir/init.pid"

  root=$DISK/merged
  mkdir -p "$DISK/upper" "$DISK/work" "$DISK/containerd" "$root"
  mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$DISK/upper,workdir=$DISK/work" "$root"

  mount -t proc proc "$root/proc"
  mount -t sysfs sysfs "$root/sys"      # shows this host's network namespace
  # cgroup v1 like the machine; in our cgroup namespace each hierarchy shows only this host's subtree
  mount -t tmpfs -o mode=755 cgroup "$root/sys/fs/cgroup"
  for controller in cpu cpuacct cpuset memory devices freezer blkio pids; do
    mkdir "$root/sys/fs/cgroup/$controller"
    mount -t cgroup -o "$controller" cgroup "$root/sys/fs/cgroup/$controller"
  done
  mkdir "$root/sys/fs/cgroup/systemd" "$root/sys/fs/cgroup/unified"
  mount -t cgroup -o none,name=systemd cgroup "$root/sys/fs/cgroup/systemd"
  mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup/unified"

  mount -t tmpfs -o mode=755 dev "$root/dev"
  for node in null zero full random urandom tty kmsg; do
    touch "$root/dev/$node"
    mount --bind "/dev/$node" "$root/dev/$node"
  done
  for node in /dev/loop-control /dev/loop[0-9]*; do
    [ -e "$node" ] || continue
    touch "$root$node"
    mount --bind "$node" "$root$node"
  done
  mkdir -p "$root/dev/pts" "$root/dev/shm" "$root/dev/mqueue"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$root/dev/pts"
  ln -s pts/ptmx "$root/dev/ptmx"
  mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
  mount -t mqueue mqueue "$root/dev/mqueue"
  ln -s /proc/self/fd "$root/dev/fd"
  ln -s /proc/self/fd/0 "$root/dev/stdin"
  ln -s /proc/self/fd/1 "$root/dev/stdout"
  ln -s /proc/self/fd/2 "$root/dev/stderr"
  mount -t tmpfs -o mode=755 run "$root/run"
  # containerd's overlay snapshotter cannot work on overlayfs: give it a plain directory
  mount --bind "$DISK/containerd" "$root/var/lib/containerd"

  cp -a "$run_dir/files/." "$root/"
  chroot "$root" usermod --password "$(cat "$run_dir/kubpw.hash")" kubpw
  hostname "$HOST_NAME"

  cd "$root"
  mkdir -p .oldroot
  pivot_root . .oldroot
  cd /
  umount -l /.oldroot
  rmdir /.oldroot
  export container=kub-lab
  exec /lib/systemd/systemd
}

case $stage in
  power) power ;;
  boot) boot ;;
  *) echo "usage: $0 power|boot RUN_DIR" >&2; exit 2 ;;
esac
