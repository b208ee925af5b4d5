/**
 * The terminal relay: a short Python program the agent runs as `python3 -I -S -c RELAY_SOURCE
 * <rows> <cols> <program> <args...>` for an Exec with a tty (see pty.ts for why Python). It
 *
 * 1. ignores the signals a terminal or a caller sends to its process group (it shares the
 *    program's group, so a SIGKILL to the group still ends both);
 * 2. opens a pseudo-terminal pair, makes the slave its session's controlling terminal (the agent
 *    started it as a session leader) and sets the start size;
 * 3. forks the program: the slave on fds 0, 1 and 2, every other descriptor closed, every signal
 *    back to its default and none blocked, the environment of the first input frame (`e` + u32
 *    length + NUL-separated NAME=VALUE; the relay itself runs with an empty one), the working
 *    directory it was given, PATH looked up in that environment; the program stays in the relay's process group, the terminal's
 *    foreground group, so Ctrl-C reaches it through the line discipline;
 * 4. reports on fd 3 `ok` once the exec succeeded, or `errno <n>` if it failed, or `fail <text>`;
 * 5. relays bytes unchanged: terminal output to fd 1, and frames from fd 0 to the terminal —
 *    `d` + u32 length + bytes of input, `r` + u32 length 4 + u16 rows + u16 cols for a resize
 *    (big-endian), applied in order, so a resize sent before a keystroke takes effect first;
 * 6. once the program has exited and what it wrote is forwarded, exits as the program did: the
 *    same code, or killed by the same signal (without a core file). The terminal ends with the
 *    program, as a terminal window closes: the relay, the session's leader, exits and the kernel
 *    sends SIGHUP to what is left in the foreground group. (Waiting instead for the last holder
 *    of the terminal to close it, as plain exec waits for its pipes, is not possible: gVisor's
 *    pty master does not report the hang-up; a read just blocks.)
 *
 * It reads its input only while the previous frame's bytes are written to the terminal, and the
 * terminal only while fd 1 has taken the previous read: memory is bounded by one read each way,
 * and a slow reader on either side blocks the writer, as with plain pipes. fd 2 is /dev/null:
 * with a tty nothing is ever sent as stderr.
 */
export const RELAY_SOURCE = String.raw`
import errno, fcntl, os, resource, select, signal, struct, sys, termios

CHUNK = 65536

def report(text):
    try:
        os.write(3, text.encode() + b'\n')
    except OSError:
        pass

def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))

def read_exactly(fd, n):
    got = b''
    while len(got) < n:
        part = os.read(fd, n - len(got))
        if not part:
            raise EOFError('input ended inside the environment frame')
        got += part
    return got

def environment():
    # The first input frame: the program's environment, NUL-separated NAME=VALUE entries.
    # The relay itself runs with an empty one, so nothing Python adds to its own (a coerced
    # LC_CTYPE in a C locale) reaches the program, and nothing of the caller's changes the relay.
    head = read_exactly(0, 5)
    if head[0] != 0x65:
        raise ValueError('the first input frame is not the environment')
    env = {}
    for entry in read_exactly(0, int.from_bytes(head[1:5], 'big')).split(b'\0'):
        if entry:
            name, _, value = entry.partition(b'=')
            env[name] = value
    return env

def start(rows, cols, argv):
    env = environment()
    for name in ('SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU',
                 'SIGWINCH', 'SIGUSR1', 'SIGUSR2', 'SIGALRM'):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 2, inheritable=False)
    os.close(null)
    os.set_inheritable(3, False)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    # Does this kernel signal the foreground group on a resize? The relay is in that group: with
    # SIGWINCH blocked, the first size (a change from 0x0) leaves it pending if so. Linux does;
    # older gVisor releases neither send SIGWINCH nor act on ISIG characters, and for them the
    # relay does both itself (emulate_signals): one kernel, one signal, never two.
    signal.signal(signal.SIGWINCH, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGWINCH])
    set_size(master, rows, cols)
    native = signal.SIGWINCH in signal.sigpending()
    signal.signal(signal.SIGWINCH, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGWINCH])
    # SIGCHLD wakes the relay loop through this pipe (its handler itself does nothing).
    wake, wake_w = os.pipe()
    os.set_blocking(wake, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            for entry in os.listdir('/proc/self/fd'):
                fd = int(entry)
                if fd > 2 and fd != w:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            for sig in signal.valid_signals():
                if sig not in (signal.SIGKILL, signal.SIGSTOP):
                    try:
                        signal.signal(sig, signal.SIG_DFL)
                    except (OSError, ValueError):
                        pass
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.execvpe(argv[0], argv, env)
        except OSError as e:
            os.write(w, str(e.errno or errno.EIO).encode())
        finally:
            os._exit(127)
    os.close(slave)
    os.close(w)
    failed = b''
    while True:
        part = os.read(r, 64)
        if not part:
            break
        failed += part
    os.close(r)
    if failed:
        os.waitpid(pid, 0)
        report('errno ' + failed.decode())
        os._exit(0)
    report('ok')
    os.close(3)
    return pid, master, wake, not native

def foreground(master):
    try:
        return os.tcgetpgrp(master)
    except OSError:
        return os.getpgrp()

SPECIAL = ((termios.VINTR, signal.SIGINT), (termios.VQUIT, signal.SIGQUIT), (termios.VSUSP, signal.SIGTSTP))

def line_signals(master, data):
    # What the line discipline does with ISIG: each special character is consumed and signals
    # the foreground group.
    try:
        attrs = termios.tcgetattr(master)
    except termios.error:
        return data
    if not attrs[3] & termios.ISIG:
        return data
    chars = {}
    for index, sig in SPECIAL:
        c = attrs[6][index]
        c = c[0] if isinstance(c, bytes) else c
        if c:
            chars[c] = sig
    if not any(b in chars for b in data):
        return data
    kept = bytearray()
    for b in data:
        if b in chars:
            try:
                os.killpg(foreground(master), chars[b])
            except OSError:
                pass
        else:
            kept.append(b)
    return bytes(kept)

def relay(pid, master, wake, emulate_signals):
    os.set_blocking(master, False)
    os.set_blocking(1, False)
    out = b''
    data = b''
    frames = bytearray()
    input_open = True
    master_open = True
    status = None
    while True:
        if status is None:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                status = code
        while not data and len(frames) >= 5:
            size = int.from_bytes(frames[1:5], 'big')
            if len(frames) < 5 + size:
                break
            kind, body = frames[0], bytes(frames[5:5 + size])
            del frames[:5 + size]
            if kind == 0x64 and master_open and status is None:
                data = line_signals(master, body) if emulate_signals else body
            elif kind == 0x72 and size == 4 and master_open:
                rows, cols = struct.unpack('>HH', body)
                try:
                    set_size(master, rows, cols)
                    if emulate_signals:
                        os.killpg(foreground(master), signal.SIGWINCH)
                except OSError:
                    pass
        if status is not None and not out:
            try:
                out = os.read(master, CHUNK) if master_open else b''
            except OSError:
                out = b''
            if not out:
                return status
        poll = select.poll()
        if status is None:
            poll.register(wake, select.POLLIN)
            if master_open:
                events = (0 if out else select.POLLIN) | (select.POLLOUT if data else 0)
                if events:
                    poll.register(master, events)
            if input_open and not data:
                poll.register(0, select.POLLIN)
        if out:
            poll.register(1, select.POLLOUT)
        for fd, events in poll.poll():
            if fd == wake:
                while True:
                    try:
                        if not os.read(wake, 512):
                            break
                    except OSError:
                        break
            elif fd == 0:
                part = os.read(0, CHUNK)
                if part:
                    frames += part
                else:
                    input_open = False
            elif fd == 1:
                try:
                    out = out[os.write(1, out):]
                except BlockingIOError:
                    pass
            elif fd == master:
                if data and events & (select.POLLOUT | select.POLLHUP | select.POLLERR):
                    try:
                        data = data[os.write(master, data):]
                    except BlockingIOError:
                        pass
                    except OSError:
                        data = b''
                if not out and events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    try:
                        out = os.read(master, CHUNK)
                        if not out:
                            master_open = False
                    except BlockingIOError:
                        pass
                    except OSError:
                        master_open = False
                        data = b''

def finish(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sig != signal.SIGKILL:  # its disposition cannot be set (EINVAL), and needs no reset
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))

try:
    pid, master, wake, emulate_signals = start(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
except BaseException as e:
    report('fail ' + repr(e))
    os._exit(0)
try:
    status = relay(pid, master, wake, emulate_signals)
except OSError:
    _, status = os.waitpid(pid, 0)
finish(status)
`;
