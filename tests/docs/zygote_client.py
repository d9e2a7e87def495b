"""The ``kaskad`` command of a page run whose zygote is up (see tests/docs/zygote.py).

Run as ``python -I -S zygote_client.py ARGS...`` by the page's ``.venv/bin/kaskad``: it
hands its arguments, folder, environment and standard streams to the zygote, waits for
the command to end and ends the same way. Without a zygote to answer (``kaskad serve``,
no socket, or the zygote declines) it becomes ``python -m kaskad.cli.main ARGS...``. Its
own start-up is a bare interpreter's plus ``_socket`` (tens of milliseconds): no ``site``,
no ``socket`` module.
"""

import _socket
import os
import sys

VARIABLE = "KASKAD_DOCS_ZYGOTE"  # the zygote's socket, in the page's environment
FAILED = 70  # the command's exit code when the zygote fails it (recorded as a failure)


def main() -> None:
    args = sys.argv[1:]
    path = os.environ.get(VARIABLE, "")
    if path and args[:1] != ["serve"]:  # a server is stopped by its process group
        status = _through(path, args)
        if status is not None:
            _end(status, path)
    os.execv(sys.executable, [sys.executable, "-m", "kaskad.cli.main", *args])


def _through(path: str, args: list[str]) -> bytes | None:
    """The zygote's reply (b"" when it went away), None when it did not take the command."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    try:
        sock.connect(path)
        fields = [os.getcwd(), str(len(args)), *args]
        fields += [f"{k}={v}" for k, v in os.environ.items()]
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
        message = b"\0".join(os.fsencode(f) for f in fields)
        sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
    except OSError:  # nothing was sent: the command runs as without a zygote
        sock.close()
        return None
    try:
        reply = sock.recv(256)
    except OSError as exc:
        reply = f"error: {exc}".encode()
    sock.close()
    return None if reply == b"fallback" else reply


def _end(reply: bytes, path: str) -> None:
    """End as the command ended: its exit code, or its signal."""
    word, _, value = reply.decode().partition(" ")
    if word == "exit":
        os._exit(int(value))
    if word == "signal":
        import signal

        signal.signal(int(value), signal.SIG_DFL)
        os.kill(os.getpid(), int(value))
        os._exit(128 + int(value))
    why = reply.decode() or "the zygote closed the connection without an exit status"
    message = f"kaskad docs zygote: {' '.join(sys.argv[1:])}: {why}\n"
    os.write(2, message.encode())
    with open(os.path.join(os.path.dirname(path), "errors"), "a") as errors:
        errors.write(message)
    os._exit(FAILED)


if __name__ == "__main__":
    main()
