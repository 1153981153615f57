"""The stop signal's handler (portal.cli.shutdown), in a process of its own: a deadlock there
would hang the suite, a child process only times out."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# The main thread inside Event.wait() holds the event's lock for a moment; a stop signal that
# lands then runs its handler in that same thread, holding that lock.
SIGNAL_WHILE_THE_LOCK_IS_HELD = textwrap.dedent(
    """
    import os, signal
    from portal.cli.shutdown import Shutdown

    shutdown = Shutdown(grace=60).install((signal.SIGUSR1,))
    with shutdown.requested._cond:
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(100_000):  # the handler runs between these bytecodes
            pass
    print("stop requested" if shutdown.requested.wait(5) else "stop never requested", flush=True)
    """
)

SECOND_SIGNAL = textwrap.dedent(
    """
    import os, signal, threading
    from portal.cli.shutdown import Shutdown

    shutdown = Shutdown(grace=60).install((signal.SIGUSR1,))
    shutdown.on_force(lambda: print("last step ran", flush=True))
    os.kill(os.getpid(), signal.SIGUSR1)
    shutdown.wait()
    print("stop requested", flush=True)
    os.kill(os.getpid(), signal.SIGUSR1)
    threading.Event().wait()  # stuck for good: only the forced exit ends it
    print("still running", flush=True)
    """
)


def run_child(script: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired as hung:
        raise AssertionError(f"the process hung after its stop signal: {hung.stdout!r} {hung.stderr!r}") from None


def test_a_stop_signal_landing_while_the_main_thread_holds_the_events_lock_still_stops_the_process():
    done = run_child(SIGNAL_WHILE_THE_LOCK_IS_HELD)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stop requested"


def test_the_second_stop_signal_runs_the_last_steps_and_exits_at_once():
    done = run_child(SECOND_SIGNAL)
    assert done.stdout.splitlines() == ["stop requested", "last step ran"], done.stdout + done.stderr
    assert done.returncode == 1
    assert "a second stop signal; exiting now" in done.stderr
