"""The trusted runner of one sandboxed program (the modes are described in pkt_core/sandbox/__init__.py).

The harness never imports this file: it starts `python -I -S -c <this file's text> <job file>`
(inside `unshare` in the namespaces mode). It is import-light because every program pays for it:
-S skips site (~40 ms), marshal instead of json skips `re`, and only ctypes (for prctl, mount,
Landlock and seccomp) costs a few ms. Steps:
1. read the job and delete it (the program must not find the pass token there);
2. namespaces mode: build a fresh root holding only the read-only system dirs and Python install,
   a few devices, a private /tmp, /proc of the new pid namespace and the workdir; pivot into it;
3. become a child subreaper, so every descendant that is orphaned (double fork, setsid) is
   re-parented to the runner instead of to init, then fork;
4. the child confines itself (rlimits, throwaway uid or no capabilities, no-new-privs, Landlock,
   seccomp) and runs program + tests; only if the tests finished does it send the token;
5. the runner waits until the deadline, kills every descendant and exits with a code that says
   what happened.
"""
import ctypes
import marshal
import os
import resource
import select
import struct  # already imported by ctypes: free
import sys
import time

# Exit codes read by the harness (_harness.py); 64+N means the child died of signal N.
PASS, ERROR, FAILED, MEMORY, EARLY_EXIT, OTHER_EXIT, TIMEOUT, SETUP, SIGNALLED = 0, 3, 4, 5, 6, 7, 8, 9, 64
PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 24, 36, 38, 22
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MNT_DETACH = 2, 4, 8, 4096, 16384, 2
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
ATTR_RDONLY, ATTR_NOSUID, ATTR_NODEV = 1, 2, 4
# The same number on every architecture (added after the syscall tables were unified).
SYS_MOUNT_SETATTR, SYS_LANDLOCK_CREATE, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT = 442, 444, 445, 446

libc = ctypes.CDLL(None, use_errno=True)


def syscall(nr, *args):
    """libc's syscall(2) with every integer passed as a full long (it is variadic)."""
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return libc.syscall(ctypes.c_long(nr), *args)


def ok(rc, what):
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))
    return rc


def bind(src, dst, attrs):
    """Bind `src` (and what is mounted below it) at `dst`, then set mount attributes on all of it."""
    ok(libc.mount(src.encode(), dst.encode(), None, MS_BIND | MS_REC, None), "bind " + dst)
    if attrs:
        attr = struct.pack("QQQQ", attrs, 0, 0, 0)  # struct mount_attr: set, clear, propagation, userns
        ok(syscall(SYS_MOUNT_SETATTR, AT_FDCWD, dst.encode(), AT_RECURSIVE, attr, len(attr)), "ro " + dst)


def build_root(ns, work):
    """Namespaces mode: a new root with only what the program needs, then pivot_root into it.

    Everything else (home folders, the project and runs folders, the host's /proc, /sys, /run and
    its sockets) is simply absent; the system dirs are read-only, /tmp is a private tmpfs that
    vanishes with the run, and the workdir is the only host folder the program can write.
    """
    root = ns["root"]
    os.umask(0o022)  # directories of the new root must be traversable by a throwaway uid
    ok(libc.mount(b"tmpfs", root.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=1m"), "new root")
    for path, source, link in ns["ro"]:
        os.makedirs(os.path.dirname(root + path), exist_ok=True)
        if link is not None:  # e.g. /bin -> usr/bin on merged-/usr systems: same link, resolved inside
            os.symlink(link, root + path)
        else:
            os.makedirs(root + path, exist_ok=True)
            bind(source, root + path, ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV)
    os.makedirs(root + "/dev", exist_ok=True)
    for dev in ns["dev"]:
        os.close(os.open(root + dev, os.O_CREAT | os.O_WRONLY, 0o644))  # a mount point for the node
        bind(dev, root + dev, ATTR_RDONLY)  # read-only mount: /dev/null still accepts writes
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink("/proc/self/fd/%d" % fd, root + "/dev/" + name)
    os.symlink("/proc/self/fd", root + "/dev/fd")
    for d in ns["scratch"]:
        os.makedirs(root + d, exist_ok=True)
        ok(libc.mount(b"tmpfs", (root + d).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=1777,size=16m"), d)
    os.makedirs(root + "/proc")
    # A proc of the new pid namespace shows only the sandbox's processes. The kernel refuses it
    # where the host's /proc is partly hidden (some containers): then there is no /proc at all.
    libc.mount(b"proc", (root + "/proc").encode(), b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    os.makedirs(root + work, exist_ok=True)
    bind(work, root + work, ATTR_NOSUID | ATTR_NODEV)  # the one writable host folder
    attr = struct.pack("QQQQ", ATTR_RDONLY, 0, 0, 0)
    ok(syscall(SYS_MOUNT_SETATTR, AT_FDCWD, root.encode(), 0, attr, len(attr)), "ro new root")
    os.chdir(root)
    # pivot_root(".", ".") stacks the old root under the new one; detaching it removes the host's
    # whole tree from this mount namespace (chroot alone would leave it reachable).
    ok(syscall(ns["pivot_root"], b".", b"."), "pivot_root")
    ok(libc.umount2(b".", MNT_DETACH), "detach old root")
    os.chdir(work)


def drop_capabilities():
    """Still uid 0 (root without a throwaway uid, or root of a user namespace): drop every capability.

    With an empty bounding set even exec'ing a program as uid 0 grants none back.
    """
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # EINVAL: past the last capability this kernel knows
    ok(libc.capset(struct.pack("Ii", 0x20080522, 0), bytes(24)), "capset")  # v3 header, all sets empty


def landlock_ruleset(ll):
    """Build (not yet enforce) the Landlock ruleset: paths are opened while we may still reach them."""
    fd = ok(syscall(SYS_LANDLOCK_CREATE, ll["attr"], len(ll["attr"]), 0), "landlock_create_ruleset")
    for path, access in ll["rules"]:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
        rule = struct.pack("<Qi", access, target)  # packed struct landlock_path_beneath_attr
        ok(syscall(SYS_LANDLOCK_ADD_RULE, fd, 1, rule, 0), "landlock rule for " + path)
        os.close(target)
    return fd


def load_seccomp(bpf, pid_slot):
    """Load the libseccomp-built BPF filter; the harness left a placeholder where our pid goes."""
    code = bytearray(bpf)
    if pid_slot:
        slot, pid = struct.pack("<I", pid_slot), struct.pack("<I", os.getpid())
        for i in range(0, len(code), 8):  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k
            if code[i] & 0x0F == 0x05 and code[i + 4:i + 8] == slot:  # a BPF_JMP|BPF_K compare
                code[i + 4:i + 8] = pid
    buf = ctypes.create_string_buffer(bytes(code), len(code))
    prog = struct.pack("HP", len(code) // 8, ctypes.addressof(buf))  # struct sock_fprog
    ok(libc.prctl(PR_SET_SECCOMP, 2, prog, 0, 0), "seccomp")  # SECCOMP_MODE_FILTER


def confine(job):
    ruleset = landlock_ruleset(job["landlock"]) if job["landlock"] else None
    for name, soft, hard in job["limits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    if job["uid"] is not None:
        os.setgroups([])
        os.setgid(job["uid"])
        os.setuid(job["uid"])
    elif os.geteuid() == 0:
        drop_capabilities()
    ok(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    if ruleset is not None:
        ok(syscall(SYS_LANDLOCK_RESTRICT, ruleset, 0), "landlock_restrict_self")
        os.close(ruleset)
    if job["seccomp"]:
        load_seccomp(job["seccomp"], job["pid_slot"])


def child(job, w):
    try:
        confine(job)
    except BaseException as e:
        os.write(2, ("\nsandbox setup failed: %s\n" % (e,)).encode())
        os._exit(SETUP)
    code, g = ERROR, {"__name__": "__main__"}
    try:
        exec(compile(job.pop("program"), "<program>", "exec"), g)
        code = FAILED
        exec(compile(job.pop("tests"), "<tests>", "exec"), g)
        sys.stdout.flush()
        os.write(w, job["nonce"].encode())
        code = PASS
    except MemoryError:
        code = MEMORY
        with open(2, "w", closefd=False) as e:
            e.write("\nMemoryError\n")
    except BaseException:
        try:
            import traceback
            traceback.print_exc()
        except BaseException:
            pass
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def supervise(pid, r, nonce, timeout):
    """Wait for the child until the deadline; the exit code the harness should see."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        ready = select.select([fd], [], [], timeout)[0]
        os.close(fd)
        if not ready:
            return TIMEOUT
        st = os.waitpid(pid, 0)[1]
    else:  # kernels before 5.3: poll
        end = time.monotonic() + timeout
        while True:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > end:
                return TIMEOUT
            time.sleep(0.002)
    os.set_blocking(r, False)
    try:
        token = os.read(r, 64)
    except BlockingIOError:
        token = b""
    if os.WIFSIGNALED(st):
        return SIGNALLED + os.WTERMSIG(st)
    code = os.WEXITSTATUS(st)  # our own codes pass through; a code the program chose becomes OTHER_EXIT
    if code == PASS:
        return PASS if token == nonce.encode() else EARLY_EXIT
    return code if code in (ERROR, FAILED, MEMORY, SETUP) else OTHER_EXIT


def children():
    try:
        with open("/proc/self/task/%d/children" % os.getpid()) as f:
            return [int(p) for p in f.read().split()]
    except OSError:  # kernel without CONFIG_PROC_CHILDREN, or no /proc: scan for our children
        kids, me = [], str(os.getpid())
        for p in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/stat" % p) as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == me:  # the field after the state
                        kids.append(int(p))
            except (OSError, IndexError):
                pass
        return kids


def kill_descendants(pid_namespace):
    """Kill every descendant: as a subreaper we inherit each orphan, so 'no children' means none left.

    As pid 1 of its own pid namespace, kill(-1) reaches exactly the sandbox's processes (and needs
    no /proc); otherwise the children are listed and killed until no more are re-parented to us.
    """
    for _ in range(20000):
        for pid in [-1] if pid_namespace else children():
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        time.sleep(0.0005)


def main():
    with open(sys.argv[1], "rb") as f:
        job = marshal.load(f)
    os.unlink(sys.argv[1])
    try:
        if job["ns"]:
            build_root(job["ns"], job["work"])
        ok(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "PR_SET_CHILD_SUBREAPER")
    except OSError as e:
        os.write(2, ("\nsandbox setup failed: %s\n" % (e,)).encode())
        os._exit(SETUP)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        child(job, w)
    os.close(w)
    code = supervise(pid, r, job["nonce"], job["timeout"])
    # kill(-1) only where it cannot reach beyond the sandbox: as pid 1 of a pid namespace of our own.
    kill_descendants(os.getpid() == 1)
    os._exit(code)


if __name__ == "__main__":  # `python -c` runs it as __main__; importing it does nothing
    main()
