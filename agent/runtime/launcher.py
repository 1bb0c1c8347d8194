"""FetchML's resident task launcher, the python3 flavour (stdlib only, Python >= 3.8).

One long-lived process per agent data dir starts task processes and records how they end, also
while the agent is down (agent/runtime/launcher.ts is the agent's side; launcher-source.ts is the
same protocol in Node, used where no suitable python3 exists). Tasks start through posix_spawn,
which glibc runs as a vfork-style clone: no copy of this process's page tables per task, which
is most of what a fork from Node costs (docs/agent.md, BENCHMARKS.md).

Protocol: newline-delimited JSON over a unix socket. Request {id, file, args, cwd, env, log, exit};
replies {id, pid, proc_start} or {id, error, code}; to every connection: {pid, exit: true, signal}.
Each task runs in its own session with stdin /dev/null and stdout+stderr appended to `log`; its exit
status (128 + n for signal n) is written to `exit` when it is reaped. Started as
`python3 launcher.py SOCKET PIDFILE`; prints "ready" once it listens. Exits once no agent is
connected and none of its tasks runs.
"""
import errno
import json
import os
import selectors
import signal
import socket
import sys

if sys.version_info < (3, 8):  # posix_spawn(setsid=...) needs 3.8: the agent then uses the Node launcher
    sys.exit(3)

MAX_BUFFER = 64 * 1024 * 1024
IDLE_GRACE_S = 10.0
# Signals a task gets back at their default disposition (Python itself ignores SIGPIPE and SIGXFSZ,
# and a task must not inherit that); SIGKILL and SIGSTOP cannot be changed. glibc's posix_spawn
# leaves its own internal signals (32, 33) ignored in the child; glibc programs install their own.
DEFAULT_SIGNALS = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)]

sock_path, pid_file = sys.argv[1], sys.argv[2]
sel = selectors.DefaultSelector()
out = {}  # connection -> bytearray of replies not yet written
inbuf = {}  # connection -> bytearray of requests not yet complete
tasks = {}  # pid -> exit file
writing = set()  # connections registered for EVENT_WRITE


# Plain os calls for the small per-task files: Python's file objects add fstat, ioctl and lseek.
def read_small(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def write_small(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def proc_start(pid):
    """Field 22 of /proc/<pid>/stat: with the pid, it names the process for its whole life."""
    try:
        raw = read_small('/proc/%d/stat' % pid).decode('utf-8', 'replace')
        return raw[raw.rindex(')') + 2:].split(' ')[19]
    except (OSError, ValueError, IndexError):
        return None


def send(conn, obj):
    if conn not in out:
        return
    first = not out[conn]
    out[conn] += (json.dumps(obj, separators=(',', ':')) + '\n').encode()
    if first:
        flush(conn)


def flush(conn):
    buf = out.get(conn)
    if buf is None:
        return
    try:
        while buf:
            n = conn.send(buf)
            del buf[:n]
    except (BlockingIOError, InterruptedError):
        pass
    except OSError:
        return close(conn)
    if len(buf) > MAX_BUFFER:  # an agent that stopped reading
        return close(conn)
    # Ask to hear when the socket is writable only while replies wait (one epoll_ctl per change).
    if bool(buf) != (conn in writing):
        if buf:
            writing.add(conn)
        else:
            writing.discard(conn)
        sel.modify(conn, selectors.EVENT_READ | (selectors.EVENT_WRITE if buf else 0), data=on_conn)


def close(conn):
    if conn in out:
        del out[conn]
        del inbuf[conn]
        writing.discard(conn)
        sel.unregister(conn)
        conn.close()


def resolve(file, env):
    """Like execvp: a name without '/' is looked up in the task's own PATH."""
    if '/' in file:
        return file
    for d in (env.get('PATH') or os.defpath).split(':'):
        cand = os.path.join(d or '.', file)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise OSError(errno.ENOENT, 'spawn %s ENOENT' % file)


def launch(conn, m):
    rid = m.get('id')
    file, args, log, exit_file = m.get('file'), m.get('args'), m.get('log'), m.get('exit')
    env = m.get('env') if isinstance(m.get('env'), dict) else dict(os.environ)
    cwd = m.get('cwd')
    if not (isinstance(file, str) and isinstance(args, list) and all(isinstance(a, str) for a in args)
            and isinstance(log, str) and isinstance(exit_file, str) and (cwd is None or isinstance(cwd, str))):
        return send(conn, {'id': rid, 'error': 'malformed launch request', 'code': 'EINVAL'})
    fd = None
    try:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        path = resolve(file, env)
        # posix_spawn has no chdir action here: this process is single-threaded, so changing its
        # own directory around the spawn is safe.
        if cwd is not None:
            os.chdir(cwd)
        try:
            pid = os.posix_spawn(path, [file] + args, {str(k): str(v) for k, v in env.items()},
                                 file_actions=[(os.POSIX_SPAWN_OPEN, 0, '/dev/null', os.O_RDONLY, 0),
                                               (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)],
                                 setsid=True, setsigmask=(), setsigdef=DEFAULT_SIGNALS)
        finally:
            if cwd is not None:
                os.chdir('/')
    except OSError as e:
        code = errno.errorcode.get(e.errno or 0, 'EIO')
        return send(conn, {'id': rid, 'error': '%s (%s)' % (e.strerror or str(e), file), 'code': code})
    except (ValueError, TypeError) as e:  # a NUL byte in argv or env
        return send(conn, {'id': rid, 'error': str(e), 'code': 'EINVAL'})
    except NotImplementedError as e:  # a libc without POSIX_SPAWN_SETSID: the agent uses its wrapper
        return send(conn, {'id': rid, 'error': str(e), 'code': 'ENOSYS'})
    finally:
        if fd is not None:
            os.close(fd)
    tasks[pid] = exit_file
    send(conn, {'id': rid, 'pid': pid, 'proc_start': proc_start(pid)})


def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        exit_file = tasks.pop(pid, None)
        if exit_file is None:
            continue
        sig = None
        if os.WIFSIGNALED(status):
            code = 128 + os.WTERMSIG(status)
            try:
                sig = signal.Signals(os.WTERMSIG(status)).name
            except ValueError:
                sig = None
        else:
            code = os.WEXITSTATUS(status)
        try:
            write_small(exit_file, b'%d\n' % code)
        except OSError:
            pass  # the task's dir is gone: the agent no longer wants to know
        for conn in list(out):
            send(conn, {'pid': pid, 'exit': True, 'signal': sig})


def on_conn(conn, events):
    if events & selectors.EVENT_WRITE:
        flush(conn)
    if not events & selectors.EVENT_READ or conn not in inbuf:
        return
    try:
        chunk = conn.recv(65536)
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        chunk = b''
    if not chunk:
        return close(conn)
    buf = inbuf[conn]
    buf += chunk
    if len(buf) > MAX_BUFFER:
        return close(conn)
    while conn in inbuf:
        nl = buf.find(b'\n')
        if nl < 0:
            break
        line = bytes(buf[:nl])
        del buf[:nl + 1]
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if isinstance(m, dict):
            launch(conn, m)


def on_accept(server, events):
    try:
        conn, _ = server.accept()
    except (BlockingIOError, InterruptedError):
        return
    conn.setblocking(False)
    out[conn] = bytearray()
    inbuf[conn] = bytearray()
    sel.register(conn, selectors.EVENT_READ, data=on_conn)


def on_signal(rfd, events):
    try:
        os.read(rfd, 4096)
    except (BlockingIOError, InterruptedError):
        pass
    reap()


def idle():
    if not out and not tasks:
        try:
            os.unlink(pid_file)
        except OSError:
            pass
        sys.exit(0)


def main():
    os.chdir('/')
    # SIGCHLD wakes the loop through this pipe; the handler itself does nothing.
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    try:
        os.unlink(sock_path)
    except OSError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket starts tasks: owner only
    try:
        server.bind(sock_path)
    finally:
        os.umask(old)
    server.listen(64)
    server.setblocking(False)
    sel.register(server, selectors.EVENT_READ, data=on_accept)
    sel.register(rfd, selectors.EVENT_READ, data=on_signal)
    with open(pid_file, 'w') as f:
        f.write('%d\n' % os.getpid())
    try:
        sys.stdout.write('ready\n')
        sys.stdout.flush()
        sys.stdout.close()
    except OSError:
        pass
    started = os.times().elapsed
    connected_once = False
    while True:
        for key, events in sel.select(timeout=1.0):
            key.data(key.fileobj, events)
        reap()  # also when a SIGCHLD came between select() calls
        connected_once = connected_once or bool(out)
        # Nothing to do: gone at once after an agent was here, else after a grace for the first one.
        if not out and not tasks and (connected_once or os.times().elapsed - started >= IDLE_GRACE_S):
            idle()


if __name__ == '__main__':
    main()
