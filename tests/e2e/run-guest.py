#!/usr/bin/env python3
"""Runs end-to-end scenarios: a Linux guest under QEMU mounts a 9P server.

The server (ninepd, or diod to check the harness itself) listens on a unix
socket and exports a directory prepared for the scenario.  QEMU connects one
virtio-serial port per 9P connection to that socket; the guest relays each
port to the kernel's trans=fd (guest/mount.ninepd.c, or two FIFOs with
--relay fifo).  A scenario may add servers of the same export on ports of
their own, and QEMU's own virtio-9p device (fio-bench compares all three),
or more exports of the one ninepd, each with options of its own (identity).
The guest runs a script from guest/ that prints result lines on its second
serial port; this script turns them into one line per check, adds checks
made on the host, and exits 0 only if every check passed.

Exit status: 0 all passed, 1 a check failed or the guest did not finish,
77 the scenario needs ninepd (meson counts 77 as skipped), 2 bad usage.
"""
import argparse
import ctypes
import fcntl
import hashlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(HERE, "guest")
CACHE = os.environ.get("E2E_CACHE", os.path.join(HERE, "cache"))
# Where each run's export and sockets go: a directory that every user may
# enter, wherever the checkout lies (/root and mktemp -d are 0700, and diod
# serves the export as the guest's user); on disk, where /tmp may be a
# tmpfs without user xattrs.
EXPORT_BASE = "/var/tmp"
PORT_NAMES = ["p9a", "p9b", "p9c", "p9d"]


@dataclass
class Phase:
    """One boot of the guest running guest/<script>."""
    script: str
    label: str = ""               # prefix of its check names when there are several phases
    kill_on_mark: str = ""        # SIGKILL QEMU once the guest says "E2E-MARK <this>"
    timeout: float = 240.0        # seconds from QEMU's start to its exit (meson's
                                  # timeout in meson.build must cover every phase)


@dataclass
class Scenario:
    name: str
    doc: str
    phases: list
    ports: int = 1                # virtio-serial ports, so 9P connections, per boot
    multidevs: str = ""           # ninepd's policy; the export then spans three tmpfs
    ninepd_only: bool = False     # skipped with --server diod (multidevs scenarios are too)
    server_args: tuple = ()       # more ninepd options, e.g. ("--trace",)
    dead_ports: tuple = ()        # (port name, "silent" | "hangup"): ports whose host side is
                                  # not the server but run-guest.py (see DeadEnd)
    extra_servers: tuple = ()     # (port name, "ninepd" | "diod"): more servers of the same
                                  # export, each on a socket and a port of its own
    extra_exports: tuple = ()     # (name, ninepd export options): more exports of the one
                                  # ninepd, each a directory of its own (Run.extra_export),
                                  # which the guest mounts with aname=NAME
    virtfs_tag: str = ""          # mount tag of a QEMU virtio-9p device (fsdev local,
                                  # security_model=passthrough) on the export
    extra_cpio: tuple = ()        # archives from the cache appended to the initramfs
    guest_ninepd: bool = False    # the ninepd under test, with its shared libraries, goes
                                  # into the guest as /bin/ninepd (guest_ninepd_cpio)
    host_server: bool = True      # False: no server on the host (the guest runs its own)
    memory_mb: int = 256
    prepare: Optional[Callable] = None     # prepare(run) fills the export and run.guest_env
    host_checks: list = field(default_factory=list)  # (name, check(run) -> (ok, detail)), after the boots
    after_stop: list = field(default_factory=list)   # the same, once the server has exited


class Run:
    """The state of one scenario run: its logs live in cache/runs/<scenario>/,
    its export and sockets in a directory of its own under EXPORT_BASE."""

    def __init__(self, scenario, args):
        self.sc = scenario
        self.args = args
        self.dir = os.path.join(CACHE, "runs", scenario.name)
        # A unix socket path has at most 107 bytes and QEMU's -chardev
        # cannot take a comma: a short path, made by mkdtemp.
        self.tmp = tempfile.mkdtemp(prefix="ninepd-e2e-", dir=EXPORT_BASE)
        os.chmod(self.tmp, 0o755)
        self.export = os.path.join(self.tmp, "export")
        # Beside the first export, never inside it: no export may reach another's files.
        self.extra_export = {name: os.path.join(self.tmp, "export-" + name)
                             for name, _ in scenario.extra_exports}
        self.sock = os.path.join(self.tmp, "9p.sock")
        self.server_log = os.path.join(self.dir, "server.log")
        self.guest_env = {}
        self.server = None
        self.extra_servers = []   # (port name, process, socket) of the scenario's extra_servers
        self.qemu = None
        self.results = []         # (name, ok, detail)
        self.host_files = []      # (path in export, md5) announced by the guest
        self.marks = []           # the words of every "E2E-MARK" line
        self.bench = []           # (round, config, job, MiB/s, IOPS) of "E2E-BENCH" lines
        self.dead_ends = []       # DeadEnd listeners of the scenario's dead ports
        self.recorder = None      # the Recorder with --record
        self.log_offset = 0       # server.log size when the first guest booted
        self.run_cpio = []        # archives of this run appended after the cache's

    def record(self, name, ok, detail="", at=None):
        self.results.append((name, ok, detail))
        when = f"[{at:6.1f} s] " if at is not None else ""
        print(f"{'PASS' if ok else 'FAIL'} {when}{self.sc.name}/{name}  {detail}".rstrip(), flush=True)

    def server_log_since_boot(self):
        with open(self.server_log, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def die_with_parent():
    """Children get SIGKILL if this script dies, so no QEMU or server outlives it."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop(proc, grace=5.0):
    """SIGTERM, then SIGKILL after grace seconds; returns the exit status."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.terminate()
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


# ---------------------------------------------------------------- the server

def server_command(run, kind, sock):
    if kind == "ninepd":
        export = run.export + (f",multidevs={run.sc.multidevs}" if run.sc.multidevs else "")
        extra = []
        for name, opts in run.sc.extra_exports:
            extra += ["-e", f"{run.extra_export[name]},name={name}" + (f",{opts}" if opts else "")]
        return [run.args.ninepd, *run.sc.server_args, "-l", "unix:" + sock, "-e", export, *extra]
    # diod: no config file of the host, no authentication, logs on stderr.
    return ["diod", "-f", "-n", "-c", "/dev/null", "-L", "stderr",
            "-l", sock, "-e", run.export]


def mount_options(run):
    opts = ["version=9p2000.L"]
    if run.args.server == "diod" or run.args.aname_path:
        opts.append("aname=" + run.export)
    if run.args.msize:
        opts.append(f"msize={run.args.msize}")
    return ",".join(opts)


# Run inside "unshare -m" for the multidevs scenarios: three tmpfs in a
# private mount namespace, gone with its last process, then exec the server.
MULTIDEVS_SETUP = r"""
set -e
export=$1 run=$2
shift 2
mount -t tmpfs -o size=8m e2e-root "$export"
echo root1 >"$export/f1"; echo root2 >"$export/f2"
mkdir "$export/a" "$export/b"
for d in a b; do
	mount -t tmpfs -o size=8m "e2e-$d" "$export/$d"
	echo ${d}1 >"$export/$d/f1"; echo ${d}2 >"$export/$d/f2"
done
cd "$export" && stat -c '%d %i %n' . a b f1 f2 a/f1 a/f2 b/f1 b/f2 >"$run/host-inodes"
cd /
exec "$@"
"""


def start_server(run, kind, sock, log_path, multidevs=False):
    """Starts a server of kind ("ninepd" or "diod") on the unix socket sock,
    logging to log_path, and waits until it accepts a connection.  Returns
    (process, None) or (process, why it failed)."""
    cmd = server_command(run, kind, sock)
    if multidevs:
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", MULTIDEVS_SETUP,
               "sh", run.export, run.dir] + cmd
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, f"{kind} exited with status {proc.returncode}"
        if os.path.exists(sock):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(sock)
                return proc, None
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.05)
    return proc, f"{kind} did not listen within 15 s"


def start_servers(run):
    """The scenario's server, then its extra_servers; None or why one failed."""
    run.server, err = start_server(run, run.args.server, run.sock, run.server_log, bool(run.sc.multidevs))
    if err:
        return err
    for port, kind in run.sc.extra_servers:
        sock = os.path.join(run.tmp, f"{port}.sock")
        proc, err = start_server(run, kind, sock, os.path.join(run.dir, f"server-{port}.log"))
        run.extra_servers.append((port, proc, sock))
        if err:
            return f"{err} (port {port})"
    return None


class Recorder:
    """--record DIR: a unix socket between QEMU and the server that copies
    both ways and appends what the guest sent on each connection to
    DIR/<scenario>-<phase>-<n>.9p (raw 9P frames, as on the wire), the seed
    corpus of the fuzzers (tests/fuzz/corpus/README.md)."""

    def __init__(self, run, out_dir):
        self.run, self.out_dir = run, out_dir
        self.path = os.path.join(run.tmp, "rec.sock")
        self.tag = "0"
        self.count = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        os.makedirs(out_dir, exist_ok=True)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                guest, _ = self.sock.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.connect(self.run.sock)
            except OSError:
                guest.close()
                continue
            self.count += 1
            name = f"{self.run.sc.name}-{self.tag}-{self.count}.9p"
            out = open(os.path.join(self.out_dir, name), "wb")
            threading.Thread(target=self.pump, args=(guest, server, out), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, guest, None), daemon=True).start()

    @staticmethod
    def pump(src, dst, out):
        try:
            while True:
                data = src.recv(1 << 20)
                if not data:
                    break
                if out:
                    out.write(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if out:
                out.close()
            for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                try:
                    s.shutdown(how)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


class DeadEnd:
    """The host side of a port that is not the server: a unix socket that
    accepts QEMU's connection and then never answers ("silent") or closes it
    at once ("hangup"), so the guest sees a port with nothing connected."""

    def __init__(self, run, name, kind):
        self.name, self.kind = name, kind
        self.path = os.path.join(run.tmp, f"{name}.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.held = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.kind == "hangup":
                conn.close()
            else:
                self.held.append(conn)

    def close(self):
        for conn in self.held:
            conn.close()
        self.sock.close()


# ----------------------------------------------------------------- the guest

def shared_libraries(binary):
    """The files the ELF interpreter loads for binary: ldd's resolved paths
    and the interpreter itself."""
    out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, check=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "=>" and words[2].startswith("/"):
            libs.append(words[2])
        elif words and words[0].startswith("/"):
            libs.append(words[0])
    return libs


def guest_ninepd_cpio(run):
    """An archive with the ninepd under test as /bin/ninepd (and, with
    --vsock-test, the vsock integration tests as /bin/test-integration-vsock)
    and every shared library they load at the path ldd found it: the guest
    is Debian's x86-64 too, so the host's libraries are the guest's.  Not a
    static build: the guest must run the very binary meson tests, a
    sanitizer build included (its runtimes cannot be linked statically), and
    libxml2 pulls in ICU, so a static ninepd is as big as this (35 MB,
    mostly ICU's data).  Padded to 512 bytes like every archive of the
    initramfs."""
    root = os.path.join(run.dir, "ninepd-root")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "bin"))
    binaries = [(run.args.ninepd, "ninepd")]
    if run.args.vsock_test:
        binaries.append((run.args.vsock_test, "test-integration-vsock"))
    for binary, name in binaries:
        shutil.copy(binary, os.path.join(root, "bin", name))
        for lib in shared_libraries(binary):
            dest = root + lib
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy(lib, dest)   # follows symlinks: the file itself, under the linked name
    names = []
    for d, _, files in os.walk(root):
        rel = os.path.relpath(d, root)
        names.append(rel)
        names.extend(os.path.join(rel, n) for n in files)
    path = os.path.join(run.dir, "ninepd.cpio")
    with open(path, "wb") as out:
        subprocess.run(["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"], cwd=root,
                       input="\n".join(sorted(names)).encode(), stdout=out, check=True)
    os.truncate(path, (os.path.getsize(path) + 511) // 512 * 512)
    shutil.rmtree(root)
    run.guest_env["E2E_VSOCK_TEST"] = "1" if run.args.vsock_test else ""
    return path


def make_initrd(run, phase, path):
    """The cached initramfs, the scenario's extra archives, then a cpio with /e2e."""
    root = os.path.join(run.dir, "cpio")
    shutil.rmtree(root, ignore_errors=True)
    e2e = os.path.join(root, "e2e")
    os.makedirs(e2e)
    for name in os.listdir(GUEST):
        if name.endswith(".sh") and name != "init.sh":
            shutil.copy(os.path.join(GUEST, name), e2e)
    env = {"E2E_OPTS": mount_options(run), "E2E_RELAY": run.args.relay,
           "E2E_SERVER": run.args.server, "E2E_MULTIDEVS": run.sc.multidevs}
    env.update(run.guest_env)
    with open(os.path.join(e2e, "env"), "w") as f:
        for k, v in sorted(env.items()):
            f.write(f"{k}={shlex.quote(str(v))}\n")
    script = phase.script
    if run.args.guest_script:
        script = "custom.sh"
        shutil.copy(run.args.guest_script, os.path.join(e2e, script))
    with open(os.path.join(e2e, "main.sh"), "w") as f:
        f.write(f". ./env\n. ./lib.sh\n. ./{script}\n")
    names = []
    for d, _, files in os.walk(root):
        rel = os.path.relpath(d, root)
        names.append(rel)
        names.extend(os.path.join(rel, n) for n in files)
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"], cwd=root,
                          input="\n".join(sorted(names)).encode(), stdout=subprocess.PIPE, check=True)
    # Every archive in the cache is padded to 512 bytes, so this one starts
    # 4-byte aligned, as the kernel needs to find it.
    with open(path, "wb") as out:
        parts = [os.path.join(CACHE, p) for p in ("initramfs.img",) + tuple(run.sc.extra_cpio)]
        for part in parts + run.run_cpio:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
        out.write(cpio.stdout)


def qemu_command(run, initrd, console, results):
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", str(run.sc.memory_mb),
           "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
           "-kernel", os.path.join(CACHE, "vmlinux"), "-initrd", initrd,
           "-append", "console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/init",
           "-serial", "file:" + console, "-serial", "file:" + results,
           "-device", "virtio-serial-pci,id=vser"]
    server_path = run.recorder.path if run.recorder else run.sock
    ports = [(port, server_path) for port in PORT_NAMES[:run.sc.ports]]
    ports += [(port, path) for port, _, path in run.extra_servers]
    ports += [(d.name, d.path) for d in run.dead_ends]
    for port, path in ports:
        cmd += ["-chardev", f"socket,id={port},path={path}",
                "-device", f"virtserialport,bus=vser.0,chardev={port},name={port}"]
    if run.sc.virtfs_tag:
        # QEMU's option parser reads ",," as a comma in a value.
        tag, path = run.sc.virtfs_tag, run.export.replace(",", ",,")
        cmd += ["-fsdev", f"local,id=fs-{tag},path={path},security_model=passthrough",
                "-device", f"virtio-9p-pci,fsdev=fs-{tag},mount_tag={tag}"]
    return cmd


MARKER = re.compile(r"E2E-(CHECK|MARK|HOSTFILE|ERROR|DONE|BENCH)\b ?(.*)")
# round=N CONFIG-KIND=CONFIG job=JOB KiB/s IOPS fio-error (relay= or server=)
BENCH = re.compile(r"round=(\d+) \w+=(\S+) job=(\S+) (\d+) (\d+) (\S+)")


def boot(run, phase, index):
    """Boots the guest for one phase; records its checks.  Returns its wall time."""
    tag = phase.label or str(index)
    prefix = phase.label + "/" if phase.label else ""
    initrd = os.path.join(run.dir, f"initrd-{tag}")
    console = os.path.join(run.dir, f"console-{tag}.log")
    results = os.path.join(run.dir, f"results-{tag}.log")
    make_initrd(run, phase, initrd)
    open(results, "w").close()
    qlog = open(os.path.join(run.dir, f"qemu-{tag}.log"), "wb")
    start = time.monotonic()
    run.qemu = subprocess.Popen(qemu_command(run, initrd, console, results), stdin=subprocess.DEVNULL,
                                stdout=qlog, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    done, killed, timed_out, checks = None, False, False, 0
    pending = ""
    with open(results, "r", errors="replace") as res:
        while True:
            exited = run.qemu.poll() is not None
            pending += res.read()
            *lines, pending = pending.split("\n")
            for line in lines:
                m = MARKER.search(line)
                if not m:
                    continue
                kind, rest = m.group(1), m.group(2).strip()
                if kind == "CHECK":
                    parts = rest.split(" ", 2) + ["", ""]
                    run.record(prefix + parts[0], parts[1] == "PASS", parts[2], time.monotonic() - start)
                    checks += 1
                elif kind == "MARK":
                    run.marks.append(rest)
                    if rest == "booted":
                        print(f"boot: {time.monotonic() - start:.1f} s to /init", flush=True)
                    elif rest == phase.kill_on_mark:
                        time.sleep(0.5)
                        run.qemu.kill()
                        killed = True
                elif kind == "HOSTFILE":
                    path, _, digest = rest.partition(" ")
                    run.host_files.append((path, digest))
                elif kind == "ERROR":
                    run.record(prefix + "guest-error", False, rest)
                elif kind == "BENCH":
                    print(line.strip(), flush=True)
                    b = BENCH.search(rest)
                    if b and b.group(6) == "0":
                        rnd, config, job, kib, iops = b.group(1, 2, 3, 4, 5)
                        run.bench.append((int(rnd), config, job, int(kib) / 1024, int(iops)))
                    else:
                        run.record(prefix + "bench-job", False, rest)
                elif kind == "DONE":
                    done = rest
            if exited or killed:
                break
            if time.monotonic() - start > phase.timeout:
                run.qemu.kill()
                timed_out = True
                break
            time.sleep(0.1)
    run.qemu.wait()
    wall = time.monotonic() - start
    if phase.kill_on_mark:
        run.record(prefix + "guest-killed-mid-write", killed,
                   "QEMU killed after the mark" if killed else "the mark never came")
    elif done is None:
        why = f"timed out after {phase.timeout:.0f} s" if timed_out else f"QEMU exited ({run.qemu.returncode})"
        run.record(prefix + "guest-finished", False, f"no E2E-DONE: {why}")
    else:
        run.record(prefix + "guest-finished", done == "rc=0" and checks > 0,
                   f"{checks} checks, script {done}, {wall:.1f} s")
    return wall


# --------------------------------------------------------- host-side checks

def check_server_running(run):
    servers = [("the server", run.server)] + [(f"the server of {port}", proc)
                                              for port, proc, _ in run.extra_servers]
    dead = [f"{name} exited with status {proc.returncode}" for name, proc in servers if proc.poll() is not None]
    if dead:
        return False, ", ".join(dead)
    return True, "the server outlived the guest" if len(servers) == 1 else "every server outlived the guest"


def check_host_files(run):
    for path, digest in run.host_files:
        full = os.path.join(run.export, path)
        got = md5_file(full) if os.path.exists(full) else "missing"
        run.record(f"host-sees/{path}", got == digest, f"md5 {got}")


def check_inodes_collide(run):
    """The multidevs checks prove nothing unless inode numbers collide on the host."""
    try:
        rows = [line.split() for line in open(os.path.join(run.dir, "host-inodes"))]
    except OSError as e:
        return False, str(e)
    by_ino = {}
    for dev, ino, name in rows:
        by_ino.setdefault(ino, set()).add(dev)
    shared = sorted(ino for ino, devs in by_ino.items() if len(devs) > 1)
    return bool(shared), f"{len(rows)} files on {len({r[0] for r in rows})} devices share inodes {shared}"


def check_warned_once(run):
    lines = [line for line in run.server_log_since_boot().splitlines()
             if "multidevs" in line.lower() and run.export in line]
    detail = f"{len(lines)} lines name multidevs and the export since boot"
    if lines:
        detail += f": {lines[0].strip()[:200]}"
    return len(lines) == 1, detail


def check_sessions(run):
    """Each mount the guest made on p9a began one session: the port itself,
    which the kernel refused, carried no byte to the server."""
    want = [m.split()[1] for m in run.marks if m.startswith("p9a-sessions ")]
    got = len(re.findall(r"-> Tversion ", run.server_log_since_boot()))
    if not want:
        return False, "the guest never said how many sessions it began (E2E-MARK p9a-sessions N)"
    return int(want[-1]) == got > 0, f"server saw {got} Tversion, guest began {want[-1]} sessions"


# relay-bench: NAME@MSIZE each; the first is the reference of the ratios.
# The FIFO relay hangs on messages over 64 KiB (README.md, Traps).
BENCH_RELAYS = "fifo@65536 mount.ninepd@65536 mount.ninepd@1048576"
BENCH_JOBS = ["seqwrite", "seqread", "randwrite", "randread"]
# fio-bench: SERVER@MSIZE each.  Every server is asked for 1 MiB (each
# negotiates its own maximum: diod 64 KiB, the kernel's virtio transport
# 512000 bytes), then all for 64 KiB, the same msize for all three.
FIO_BENCH_CONFIGS = ("ninepd@1048576 diod@1048576 virtio-9p@1048576 "
                     "ninepd@65536 diod@65536 virtio-9p@65536")
FIO_BENCH_JOBS = ["seqwrite", "seqread", "randwrite", "randread", "create", "stat", "delete"]
BENCH_UNITS = {"seqwrite": "MiB/s", "seqread": "MiB/s", "randwrite": "IOPS", "randread": "IOPS",
               "create": "files/s", "stat": "files/s", "delete": "files/s"}


def bench_configs(run, default):
    return (run.args.bench_configs or default).split()


def bench_values(run):
    """{(round, config, job): value in BENCH_UNITS}: MiB/s for the sequential
    jobs (1 MiB blocks, so IOPS is the same number), IOPS otherwise."""
    return {(rnd, config, job): mib if BENCH_UNITS[job] == "MiB/s" else iops
            for rnd, config, job, mib, iops in run.bench}


def same_round_ratios(value, a, b, job):
    """a's result over b's in every round that has both: the machine's load
    moves single results by tens of percent, and the rounds interleave."""
    rounds = sorted({r for r, _, _ in value})
    return [value[(r, a, job)] / value[(r, b, job)] for r in rounds
            if (r, a, job) in value and value.get((r, b, job))]


def bench_complete(run, configs, jobs):
    """The summary check's verdict: one result per config, job and round."""
    want = len(configs) * len(jobs) * run.args.bench_rounds
    return len(run.bench) == want, f"{len(run.bench)} of {want} results"


def prepare_bench(run):
    run.guest_env["E2E_BENCH_RELAYS"] = " ".join(bench_configs(run, BENCH_RELAYS))
    run.guest_env["E2E_BENCH_ROUNDS"] = run.args.bench_rounds


def summarize_bench(run):
    """Prints the medians of each relay's results and of its ratio to the
    first relay in the same round."""
    relays = bench_configs(run, BENCH_RELAYS)
    ref = relays[0]
    value = bench_values(run)
    rounds = sorted({rnd for rnd, _, _ in value})
    print(f"relay-bench: medians of {len(rounds)} rounds, (ratio to {ref} in the same round)")
    print(f"{'relay':24}" + "".join(f"{job + ' ' + BENCH_UNITS[job]:>22}" for job in BENCH_JOBS))
    for relay in relays:
        cells = []
        for job in BENCH_JOBS:
            vals = [value[(r, relay, job)] for r in rounds if (r, relay, job) in value]
            ratios = same_round_ratios(value, relay, ref, job)
            cell = f"{statistics.median(vals):.1f}" if vals else "-"
            if relay != ref and ratios:
                cell += f" ({statistics.median(ratios):.2f})"
            cells.append(f"{cell:>22}")
        print(f"{relay:24}" + "".join(cells), flush=True)
    return bench_complete(run, relays, BENCH_JOBS)


def prepare_fio_bench(run):
    run.guest_env["E2E_BENCH_CONFIGS"] = " ".join(bench_configs(run, FIO_BENCH_CONFIGS))
    run.guest_env["E2E_BENCH_ROUNDS"] = run.args.bench_rounds
    run.guest_env["E2E_BENCH_SECS"] = run.args.bench_secs
    run.guest_env["E2E_BENCH_FILES"] = run.args.bench_files
    run.guest_env["E2E_EXPORT"] = run.export   # diod's aname


def fio_bench_tables(run):
    """The markdown tables of a fio-bench run: per msize asked, the medians
    of every server, then ninepd's same-round ratios to each other server
    (and diod's to itself at the other msize: both negotiate 64 KiB, so that
    row is the noise of identical runs)."""
    configs = bench_configs(run, FIO_BENCH_CONFIGS)
    value = bench_values(run)
    rounds = sorted({r for r, _, _ in value})
    negotiated = {}
    for mark in run.marks:
        words = mark.split()
        if len(words) == 3 and words[0] == "msize":
            negotiated.setdefault(words[1], set()).add(words[2])
    msizes = list(dict.fromkeys(c.split("@")[1] for c in configs))
    head = "| " + " | ".join(f"{job} {BENCH_UNITS[job]}" for job in FIO_BENCH_JOBS) + " |"
    rule = "|---|" + "---:|" * len(FIO_BENCH_JOBS)
    out = []
    for msize in msizes:
        here = [c for c in configs if c.endswith("@" + msize)]
        out.append(f"**msize {msize} asked** (medians of {len(rounds)} round{'' if len(rounds) == 1 else 's'})\n")
        out.append("| server | msize negotiated " + head)
        out.append("|---|---:" + rule[4:])
        for c in here:
            cells = []
            for job in FIO_BENCH_JOBS:
                vals = [value[(r, c, job)] for r in rounds if (r, c, job) in value]
                digits = 1 if BENCH_UNITS[job] == "MiB/s" else 0
                cells.append(f"{statistics.median(vals):.{digits}f}" if vals else "-")
            got = "/".join(sorted(negotiated.get(c, {"?"})))
            out.append(f"| {c.split('@')[0]} | {got} | " + " | ".join(cells) + " |")
        out.append("")
        pairs = [(a, b) for a in here if a.startswith("ninepd@") for b in here if b != a]
        others = [c for c in configs if c.startswith("diod@") and c not in here]
        if msize != msizes[0]:
            pairs += [(a, b) for a in here if a.startswith("diod@") for b in others[:1]]
        if not pairs:
            continue
        out.append("| same-round ratio, median (min–max) | " + " | ".join(FIO_BENCH_JOBS) + " |")
        out.append(rule)
        for a, b in pairs:
            cells = []
            for job in FIO_BENCH_JOBS:
                ratios = same_round_ratios(value, a, b, job)
                cells.append(f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
                             if ratios else "-")
            out.append(f"| {a} / {b} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def summarize_fio_bench(run):
    """Prints the tables and keeps them, with every result, in the run's
    directory: fio-bench.md and fio-bench.csv (scripts/bench-guest.sh reads
    them)."""
    tables = fio_bench_tables(run)
    print(tables, flush=True)
    with open(os.path.join(run.dir, "fio-bench.md"), "w") as f:
        f.write(tables + "\n")
    with open(os.path.join(run.dir, "fio-bench.csv"), "w") as f:
        f.write("round,config,job,mib_s,iops\n")
        for rnd, config, job, mib, iops in sorted(run.bench):
            f.write(f"{rnd},{config},{job},{mib:.2f},{iops}\n")
    return bench_complete(run, bench_configs(run, FIO_BENCH_CONFIGS), FIO_BENCH_JOBS)


def check_no_mount_leak(run):
    with open("/proc/self/mountinfo") as f:
        leaked = [line.split()[4] for line in f if run.export in line.split()[4]]
    return not leaked, f"still mounted: {leaked}" if leaked else "no tmpfs left mounted on the host"


# ---------------------------------------------------------------- scenarios

def prepare_posix(run):
    os.symlink("/etc/passwd", os.path.join(run.export, "escape-abs"))
    os.symlink("../../../../../../../../etc/passwd", os.path.join(run.export, "escape-rel"))
    os.symlink("/etc", os.path.join(run.export, "escape-dir"))
    run.guest_env["HOST_PASSWD_MD5"] = md5_file("/etc/passwd")


def prepare_cache(run):
    path = os.path.join(run.export, "host-made.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(1 << 20))
    run.guest_env["HOST_FILE_MD5"] = md5_file(path)


# guest/identity.sh: its users, user A's uid and gid, the groups A is in
# only in the guest, and the file A creates in each export.
IDENTITY_UIDS = (1000, 1001)
IDENTITY_OWNER = (1000, 1000)
IDENTITY_GUEST_GROUPS = (2000, 2001)
IDENTITY_FILE = os.path.join("identity", "created-by-user")


def check_host_knows_no_guest_group(run):
    """The identity checks show that the guest's groups count only if the
    host has no such membership of its own."""
    found = []
    for uid in IDENTITY_UIDS:
        try:
            pw = pwd.getpwuid(uid)
        except KeyError:
            continue
        groups = os.getgrouplist(pw.pw_name, pw.pw_gid)
        found += [f"{pw.pw_name} is in group {g}" for g in IDENTITY_GUEST_GROUPS if g in groups]
    if found:
        return False, "on the host " + ", ".join(found)
    return True, f"no host group {IDENTITY_GUEST_GROUPS} has uid {IDENTITY_UIDS}"


def check_passthrough_real_owner(run):
    """passthrough: the host file belongs to the guest user who made it."""
    try:
        st = os.lstat(os.path.join(run.export, IDENTITY_FILE))
    except OSError as e:
        return False, str(e)
    return (st.st_uid, st.st_gid) == IDENTITY_OWNER, f"{IDENTITY_FILE} is {st.st_uid}:{st.st_gid} on the host"


def check_mapped_owner_in_xattrs(run):
    """mapped-xattr: the host file belongs to the daemon, the guest's owner
    is in user.virtfs.uid/gid (so p9b really is the mapped export)."""
    path = os.path.join(run.extra_export["mapped"], IDENTITY_FILE)
    try:
        st = os.lstat(path)
        guest = tuple(int.from_bytes(os.getxattr(path, "user.virtfs." + x), "little") for x in ("uid", "gid"))
    except OSError as e:
        return False, str(e)
    ok = (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()) and guest == IDENTITY_OWNER
    return ok, f"{IDENTITY_FILE} is {st.st_uid}:{st.st_gid} on the host, {guest[0]}:{guest[1]} in its xattrs"


# The id-mapped export of the identity scenario (p9c, aname=idmap): guest
# ids 0..65535 are host 100000..165535, and the guest's security.selinux
# lives in trusted.ninepd.security.selinux on the host.
IDMAP_BASE = 100000
IDMAP_OPTS = (f"translate_uid=map:0:{IDMAP_BASE}:65536,translate_gid=map:0:{IDMAP_BASE}:65536,"
              "xattrmap=:map:security.selinux:trusted.ninepd.:")
IDMAP_HOST_FILE = "host-root-file"      # made by host root: the guest sees 65534
IDMAP_LABELLED = "host-labelled"        # carries a host security.selinux, where the host allows one
IDMAP_LABEL_FILE = os.path.join("identity", "labelled")   # guest/identity.sh labels it
IDMAP_LABEL = "guest_u:object_r:guest_t:s0"


def prepare_identity(run):
    export = run.extra_export["idmap"]
    for name in (IDMAP_HOST_FILE, IDMAP_LABELLED):
        with open(os.path.join(export, name), "w") as f:
            f.write("host\n")
    try:
        os.setxattr(os.path.join(export, IDMAP_LABELLED), "security.selinux", b"host_t\0")
        run.guest_env["E2E_HOST_LABEL"] = "1"
    except OSError:
        run.guest_env["E2E_HOST_LABEL"] = ""


def check_idmap_host_owner(run):
    """idmap: what guest user 1000 made belongs to host 101000 (the map's
    offset), and the file guest root labelled carries the label under
    trusted.ninepd. while its host security.selinux stays untouched."""
    export = run.extra_export["idmap"]
    try:
        st = os.lstat(os.path.join(export, IDENTITY_FILE))
        label = os.getxattr(os.path.join(export, IDMAP_LABEL_FILE), "trusted.ninepd.security.selinux")
    except OSError as e:
        return False, str(e)
    want = tuple(IDMAP_BASE + i for i in IDENTITY_OWNER)
    ok = (st.st_uid, st.st_gid) == want and label == IDMAP_LABEL.encode()
    return ok, (f"{IDENTITY_FILE} is {st.st_uid}:{st.st_gid} on the host (want {want[0]}:{want[1]}); "
                f"trusted.ninepd.security.selinux = {label!r}")


def check_guest_ran_ninepd_under_test(run):
    """The guest's /bin/ninepd is the binary this run was given, so the
    guest's checks are about it."""
    want = md5_file(run.args.ninepd)
    got = [m.split()[1] for m in run.marks if m.startswith("ninepd-md5 ")]
    if not got:
        return False, "the guest never said (E2E-MARK ninepd-md5 MD5)"
    return got[-1] == want, f"guest /bin/ninepd md5 {got[-1]}, --ninepd md5 {want}"


SERVER_RUNNING = ("server-still-running", check_server_running)
MULTIDEVS_CHECKS = [("inodes-collide-on-host", check_inodes_collide), SERVER_RUNNING]
NO_MOUNT_LEAK = [("no-mount-leak", check_no_mount_leak)]

SCENARIOS = {s.name: s for s in [
    Scenario("posix", "core POSIX suite (cache=none), xattrs, locks, symlink confinement",
             [Phase("posix.sh", timeout=500)], ports=2, prepare=prepare_posix, host_checks=[SERVER_RUNNING]),
    Scenario("cache", "core POSIX suite with cache=loose; mmap reads, writes and exec with cache=mmap",
             [Phase("cache.sh", timeout=500)], ports=2, prepare=prepare_cache, host_checks=[SERVER_RUNNING]),
    Scenario("mount-helper", "mount -t ninepd, the port refused then relayed, flags, bounded failures",
             [Phase("mount-helper.sh", timeout=180)], ninepd_only=True, server_args=("--trace",),
             dead_ports=(("p9s", "silent"), ("p9h", "hangup")),
             host_checks=[("one-session-per-mount", check_sessions), SERVER_RUNNING]),
    Scenario("relay-bench", "by hand: fio through the FIFO relay and mount.ninepd, medians of rounds",
             [Phase("relay-bench.sh", timeout=3600)], extra_cpio=("fio.cpio",), memory_mb=512,
             prepare=prepare_bench,
             host_checks=[("relay-bench-summary", summarize_bench), SERVER_RUNNING]),
    Scenario("fio-bench", "by hand: fio against ninepd, diod and QEMU's virtio-9p on one export, medians of rounds",
             [Phase("fio-bench.sh", timeout=3600)], ninepd_only=True, extra_servers=(("p9b", "diod"),),
             virtfs_tag="p9v", extra_cpio=("fio.cpio",), memory_mb=768, prepare=prepare_fio_bench,
             host_checks=[("fio-bench-summary", summarize_fio_bench), SERVER_RUNNING]),
    Scenario("identity", "credentials as POSIX tests check them, with groups only the guest knows: "
             "passthrough (p9a), mapped-xattr (p9b) and id-mapped (p9c) exports of one server",
             [Phase("identity.sh", timeout=240)], ports=3, ninepd_only=True,
             extra_exports=(("mapped", "security_model=mapped-xattr"), ("idmap", IDMAP_OPTS)),
             prepare=prepare_identity,
             host_checks=[("host-knows-no-guest-group", check_host_knows_no_guest_group),
                          ("passthrough/host-owner-is-the-guest-user", check_passthrough_real_owner),
                          ("mapped/guest-owner-kept-in-xattrs", check_mapped_owner_in_xattrs),
                          ("idmap/host-owner-and-label-follow-the-maps", check_idmap_host_owner),
                          SERVER_RUNNING]),
    Scenario("vsock-loopback", "in the guest: ninepd on vsock, mount.ninepd vsock:1:PORT with no relay, "
             "core suite, locks, the errors, the allow list, socket activation",
             [Phase("vsock-loopback.sh", timeout=600)], ports=0, ninepd_only=True, guest_ninepd=True,
             host_server=False, memory_mb=768,
             host_checks=[("guest-ran-the-ninepd-under-test", check_guest_ran_ninepd_under_test)]),
    Scenario("disconnect", "QEMU killed mid-write; the server serves the next guest",
             [Phase("disconnect-kill.sh", "kill", kill_on_mark="writing", timeout=120),
              Phase("disconnect-after.sh", "after", timeout=120)],
             host_checks=[SERVER_RUNNING]),
    Scenario("fio", "fio sequential and random read/write jobs",
             [Phase("fio.sh", timeout=240)], extra_cpio=("fio.cpio",), memory_mb=512, host_checks=[SERVER_RUNNING]),
    Scenario("multidevs-remap", "three tmpfs with colliding inodes: distinct st_ino, own contents",
             [Phase("multidevs.sh", timeout=180)], multidevs="remap", host_checks=MULTIDEVS_CHECKS,
             after_stop=NO_MOUNT_LEAK),
    Scenario("multidevs-forbid", "other devices give EXDEV, the export's own device works",
             [Phase("multidevs.sh", timeout=180)], multidevs="forbid", host_checks=MULTIDEVS_CHECKS,
             after_stop=NO_MOUNT_LEAK),
    Scenario("multidevs-warn", "crossing devices logs exactly one warning",
             [Phase("multidevs.sh", timeout=180)], multidevs="warn",
             host_checks=MULTIDEVS_CHECKS + [("warned-once", check_warned_once)], after_stop=NO_MOUNT_LEAK),
]}


def remove_kept_export(run_dir):
    """Removes the directory of the export that a failed earlier run of the
    scenario kept (its path is in run_dir/export-path)."""
    try:
        with open(os.path.join(run_dir, "export-path")) as f:
            tmp = os.path.dirname(f.read().strip())
    except FileNotFoundError:
        return
    if os.path.dirname(tmp) == EXPORT_BASE and os.path.basename(tmp).startswith("ninepd-e2e-"):
        subprocess.run(["rm", "-rf", "--one-file-system", tmp])


def execute(run):
    """Starts the server, boots every phase and makes the host checks."""
    if run.sc.host_server:
        err = start_servers(run)
        if err:
            run.record("server-start", False, err)
            return
        run.log_offset = os.path.getsize(run.server_log)
    if run.sc.guest_ninepd:
        run.run_cpio.append(guest_ninepd_cpio(run))
    run.dead_ends = [DeadEnd(run, name, kind) for name, kind in run.sc.dead_ports]
    if run.args.record:
        run.recorder = Recorder(run, os.path.abspath(run.args.record))
    for i, phase in enumerate(run.sc.phases):
        if run.recorder:
            run.recorder.tag = phase.label or str(i)
        wall = boot(run, phase, i)
        print(f"phase {phase.label or i}: {wall:.1f} s", flush=True)
        if phase.kill_on_mark:
            time.sleep(1.0)
            ok, detail = check_server_running(run)
            run.record(f"{phase.label}/server-survives-guest-kill", ok, detail)
            if not ok:
                return
    check_host_files(run)
    for name, fn in run.sc.host_checks:
        ok, detail = fn(run)
        run.record(name, ok, detail)
    if not run.sc.host_server:
        return
    status = stop(run.server)
    if run.args.server == "ninepd":
        # diod's exit status on SIGTERM is not ours to judge.
        run.record("server-exits-cleanly", status == 0, f"exit status {status} after SIGTERM")
    for name, fn in run.sc.after_stop:
        ok, detail = fn(run)
        run.record(name, ok, detail)


def run_scenario(sc, args):
    if (sc.multidevs or sc.ninepd_only) and args.server != "ninepd" and not args.run_unsupported:
        print(f"SKIP {sc.name}: needs ninepd (--server {args.server})")
        return 77
    # Two build directories may run the same scenario at once: one waits.
    os.makedirs(os.path.join(CACHE, "runs"), exist_ok=True)
    lock = open(os.path.join(CACHE, "runs", f".{sc.name}.lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"waiting for another run of {sc.name} to finish", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    start = time.monotonic()
    run = Run(sc, args)
    try:
        remove_kept_export(run.dir)
        if os.path.isdir(run.dir):
            subprocess.run(["rm", "-rf", "--one-file-system", run.dir], check=True)
        os.makedirs(run.dir)
        for path in [run.export, *run.extra_export.values()]:
            os.mkdir(path)
        with open(os.path.join(run.dir, "export-path"), "w") as f:
            f.write(run.export + "\n")
        if sc.prepare:
            sc.prepare(run)
        print(f"== {sc.name}: {sc.doc}  [server {args.server}, relay {args.relay}, "
              f"files in {run.dir}, export {run.export}]",
              flush=True)
        execute(run)
    finally:
        stop(run.qemu)
        stop(run.server)
        for _, proc, _ in run.extra_servers:
            stop(proc)
        for d in run.dead_ends:
            d.close()
        if run.recorder:
            run.recorder.close()
        if run.results and all(ok for _, ok, _ in run.results):
            subprocess.run(["rm", "-rf", "--one-file-system", run.tmp])
        else:
            print(f"export kept in {run.export} (until the next run of {sc.name})", flush=True)
    failed = [r for r in run.results if not r[1]]
    if failed:
        for name in sorted(os.listdir(run.dir)):
            if name.endswith(".log") and not name.startswith("results"):
                print(f"--- last lines of {os.path.join(run.dir, name)}")
                with open(os.path.join(run.dir, name), errors="replace") as f:
                    sys.stdout.writelines(f.readlines()[-25:])
    print(f"{sc.name}: {time.monotonic() - start:.1f} s wall")
    print(f"{len(run.results) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed or not run.results else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("scenario", nargs="*", help="scenario names (see --list)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--server", choices=["ninepd", "diod"], default="ninepd")
    p.add_argument("--ninepd", default=os.environ.get("NINEPD_BIN", ""),
                   help="path of the ninepd binary (default: $NINEPD_BIN)")
    p.add_argument("--relay", choices=["mount.ninepd", "fifo"], default="mount.ninepd",
                   help="how the guest joins a port to trans=fd")
    p.add_argument("--aname-path", action="store_true",
                   help="ninepd: attach with aname=<export path> instead of the empty aname")
    p.add_argument("--msize", type=int, default=0, help="msize mount option (default: the kernel's)")
    p.add_argument("--guest-script", metavar="FILE",
                   help="run FILE in the guest instead of the scenario's script (to try things by hand)")
    p.add_argument("--run-unsupported", action="store_true",
                   help="run ninepd-only scenarios against diod anyway (to check the harness)")
    p.add_argument("--bench-rounds", type=int, default=5, help="relay-bench, fio-bench: rounds (default 5)")
    p.add_argument("--bench-configs", metavar="LIST",
                   help="relay-bench, fio-bench: what to compare, NAME@MSIZE separated by spaces "
                        f"(default: relay-bench '{BENCH_RELAYS}', fio-bench '{FIO_BENCH_CONFIGS}')")
    p.add_argument("--bench-secs", type=int, default=3,
                   help="fio-bench: seconds of each sequential and random job (default 3)")
    p.add_argument("--bench-files", type=int, default=200,
                   help="fio-bench: files of the create, stat and delete jobs (default 200)")
    p.add_argument("--record", metavar="DIR",
                   help="write what the guest sends on each connection to DIR/*.9p (fuzz seeds)")
    p.add_argument("--vsock-test", metavar="PATH",
                   help="vsock-loopback: also run this build of the vsock integration tests "
                        "(tests/integration/test-vsock.c) in the guest, which has vsock_loopback")
    p.add_argument("--no-build", action="store_true", help="do not run build-guest.sh first")
    args = p.parse_args()
    if args.list:
        for sc in SCENARIOS.values():
            print(f"{sc.name:18} {'(ninepd only) ' if sc.multidevs or sc.ninepd_only else ''}{sc.doc}")
        return 0
    unknown = [s for s in args.scenario if s not in SCENARIOS]
    if not args.scenario or unknown:
        p.error(f"unknown scenario {unknown}" if unknown else "no scenario given")
    if args.server == "ninepd" and not os.access(args.ninepd, os.X_OK):
        p.error("--server ninepd needs --ninepd PATH or NINEPD_BIN")
    if args.server == "ninepd":
        args.ninepd = os.path.abspath(args.ninepd)
    if args.vsock_test:
        args.vsock_test = os.path.abspath(args.vsock_test)
    if not args.no_build:
        subprocess.run([os.path.join(HERE, "build-guest.sh")], check=True)
    # meson's timeout and ^C end the run through the finally clauses.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    codes = [run_scenario(SCENARIOS[name], args) for name in args.scenario]
    if 1 in codes:
        return 1
    return 77 if all(c == 77 for c in codes) else 0


if __name__ == "__main__":
    sys.exit(main())
