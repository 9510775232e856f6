#!/usr/bin/env python3
"""Start and stop a Milvus standalone server from the PyPI package `milvus` (2.3.x).

The package ships the real Milvus server binary (the engine of a Milvus cluster, single
node). This script only uses the package to unpack that binary and write its configuration,
then runs the binary itself (the package's own wrapper leaves the server running when it is
stopped) and waits for its health check.

    scripts/milvus-standalone.py install            pip-installs the package under target/
    scripts/milvus-standalone.py start DIR [--watch PID]
    scripts/milvus-standalone.py stop DIR
    scripts/milvus-standalone.py status

`start` reuses a server that already answers on this machine (one server per machine: its
ports are fixed, gRPC and REST on 19530, health on 9091). With --watch PID the server is
stopped when process PID ends (the tests pass their own PID). Exit status 0 on success,
3 when the package is not installed, 1 on other failures.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.join(HERE, "..", "target", "milvus-py")
VERSION = "2.3.5"
HEALTH = "http://127.0.0.1:9091/healthz"


def healthy():
    try:
        with urllib.request.urlopen(HEALTH, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def package():
    sys.path.insert(0, os.path.abspath(PACKAGE_DIR))
    try:
        import milvus  # noqa: F401

        return milvus
    except ImportError:
        return None


def install():
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target",
               os.path.abspath(PACKAGE_DIR), f"milvus=={VERSION}"]
    if subprocess.call(command) != 0:
        # A Python that marks itself externally managed refuses even a --target install
        # unless told that the folder is the project's own.
        subprocess.check_call(command + ["--break-system-packages"])


def port_taken(port):
    import socket
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start(base, watch):
    # A server still stopping holds the ports without answering: wait for it to go.
    deadline = time.time() + 60
    while not healthy() and (port_taken(19530) or port_taken(9091)):
        if time.time() > deadline:
            print("ports 19530/9091 are taken by something that is not a healthy Milvus",
                  file=sys.stderr)
            return 1
        time.sleep(0.5)
    if healthy():
        print("a Milvus server already answers on 127.0.0.1:19530")
        return 0
    milvus = package()
    if milvus is None:
        print(f"the PyPI package milvus is not installed (run {sys.argv[0]} install)",
              file=sys.stderr)
        return 3
    base = os.path.abspath(base)
    config = milvus.MilvusServerConfig(data_dir=base)
    config.resolve()
    config.write_config()
    milvus._initialize_data_files(config.base_data_dir)
    yaml = os.path.join(base, "configs", "milvus.yaml")
    with open(yaml, encoding="utf-8") as f:
        text = f.read()
    # A stop must not wait 30 minutes for requests to drain; writes must show soon.
    text = text.replace("gracefulStopTimeout: 1800", "gracefulStopTimeout: 5")
    with open(yaml, "w", encoding="utf-8") as f:
        f.write(text)
    binary = os.path.join(base, "bin", "milvus")
    env = dict(os.environ, DEPLOY_MODE="STANDALONE", METRICS_PORT="9091",
               MILVUS_RUN_DIR=os.path.join(base, "run"),
               LD_LIBRARY_PATH=os.path.join(base, "bin"))
    logs = os.path.join(base, "logs")
    os.makedirs(logs, exist_ok=True)
    with open(os.path.join(logs, "stdout.log"), "w") as out, \
            open(os.path.join(logs, "stderr.log"), "w") as err:
        proc = subprocess.Popen([binary, "run", "standalone"], cwd=base, env=env,
                                stdout=out, stderr=err, start_new_session=True)
    with open(os.path.join(base, "server.pid"), "w") as f:
        f.write(str(proc.pid))
    deadline = time.time() + 120
    while not healthy():
        if proc.poll() is not None or time.time() > deadline:
            print(f"Milvus did not start; see {logs}", file=sys.stderr)
            stop_pid(proc.pid)
            return 1
        time.sleep(0.5)
    if watch:
        watcher(proc.pid, int(watch))
    print(f"Milvus {VERSION} started (pid {proc.pid}, data in {base})")
    return 0


def watcher(server, watched):
    """A detached process that stops the server once `watched` has ended."""
    if os.fork() != 0:
        return
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while alive(watched) and alive(server):
        time.sleep(1)
    stop_pid(server)
    os._exit(0)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def stop_pid(pid):
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    for _ in range(100):
        if not alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def stop(base):
    pid_file = os.path.join(os.path.abspath(base), "server.pid")
    try:
        with open(pid_file) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        print(f"no server started from {base}", file=sys.stderr)
        return 1
    stop_pid(pid)
    os.remove(pid_file)
    return 0


def main():
    args = sys.argv[1:]
    if not args or args[0] not in ("install", "start", "stop", "status"):
        print(__doc__, file=sys.stderr)
        return 2
    if args[0] == "install":
        install()
        return 0
    if args[0] == "status":
        print("running" if healthy() else "not running")
        return 0 if healthy() else 1
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if args[0] == "stop":
        return stop(args[1])
    watch = None
    if "--watch" in args:
        watch = args[args.index("--watch") + 1]
    return start(args[1], watch)


if __name__ == "__main__":
    sys.exit(main())
