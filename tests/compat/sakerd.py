"""Start and stop a real sakerd for the compatibility tests (127.0.0.1, port 0, fresh data dir).

The tests run under Debian's /usr/bin/python3, which has python3-thrift, python3-pymemcache and
python3-memcache: clients that no one on this project wrote.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

BIN_DIR = os.environ.get("SAKER_BIN_DIR", "")
TIMEOUT_MULT = float(os.environ.get("SAKER_TEST_TIMEOUT_MULTIPLIER", "1") or 1)


class Sakerd:
    def __init__(self, *extra_args, data_dir=None):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="saker-compat-")
        self.extra_args = list(extra_args)
        self.proc = None
        self.ports = {}
        self.log_path = self.data_dir.rstrip("/") + ".log"

    def start(self, timeout=20.0):
        args = [os.path.join(BIN_DIR, "sakerd"), "--data-dir", self.data_dir,
                "--listen", "127.0.0.1", "--memcache-port", "0", "--thrift-port", "0",
                "--text-port", "0", "--admin-port", "0"] + self.extra_args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.monotonic() + timeout * TIMEOUT_MULT
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            if line.startswith("sakerd ready"):
                for word in line.split()[2:]:
                    name, addr = word.split("=", 1)
                    self.ports[name] = int(addr.rsplit(":", 1)[1])
                return self
        self.kill()
        raise RuntimeError("sakerd did not become ready:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, timeout=20.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout * TIMEOUT_MULT)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.kill()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if hasattr(self, "log"):
            self.log.close()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        if os.path.exists(self.log_path):
            os.remove(self.log_path)


def wait_for(pred, timeout=5.0):
    """Polls pred until true or the (scaled) timeout passes; returns its last value."""
    deadline = time.monotonic() + timeout * TIMEOUT_MULT
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.01)
