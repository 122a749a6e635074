#!/usr/bin/python3
"""Kestrel memcache compatibility, driven by two memcache client libraries from Debian:
pymemcache (plain set/get/stats/delete) and python-memcached (Kestrel's `q/open`, `q/close`,
`q/t=` keys: it does not insist that the VALUE line echoes the requested key)."""
import socket
import threading
import time
import unittest

import memcache
from pymemcache.client.base import Client as PyMemcache
from pymemcache.exceptions import MemcacheServerError

from sakerd import Sakerd, wait_for


class MemcacheCompat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Sakerd().start()
        cls.port = cls.server.ports["memcache"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def pymc(self):
        return PyMemcache(("127.0.0.1", self.port), connect_timeout=5, timeout=10)

    def mc(self):
        return memcache.Client(["127.0.0.1:%d" % self.port], socket_timeout=10)

    def stats(self):
        client = self.pymc()
        try:
            return {k.decode() if isinstance(k, bytes) else k: v
                    for k, v in client.stats().items()}
        finally:
            client.close()

    def raw(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s

    def test_set_then_get_is_fifo(self):
        c = self.pymc()
        for i in range(5):
            self.assertTrue(c.set("fifo", b"item-%d" % i, noreply=False))
        got = [c.get("fifo") for _ in range(5)]
        self.assertEqual(got, [b"item-%d" % i for i in range(5)])
        self.assertIsNone(c.get("fifo"))

    def test_reliable_read_open_close(self):
        c = self.mc()
        c.set("rel", "a")
        c.set("rel", "b")
        self.assertEqual(c.get("rel/open"), b"a")
        # close confirms 'a' and opens 'b' in one request (Kestrel's classic loop).
        self.assertEqual(c.get("rel/close/open"), b"b")
        self.assertIsNone(c.get("rel/close"))
        self.assertIsNone(c.get("rel"))

    def test_abort_returns_item(self):
        c = self.mc()
        c.set("abrt", "x")
        self.assertEqual(c.get("abrt/open"), b"x")
        self.assertIsNone(c.get("abrt/abort"))
        self.assertEqual(c.get("abrt"), b"x")

    def test_disconnect_aborts_open_read(self):
        c = self.mc()
        c.set("disc", "keep-me")
        self.assertEqual(c.get("disc/open"), b"keep-me")
        c.disconnect_all()
        other = self.pymc()
        self.assertEqual(wait_for(lambda: other.get("disc"), 5), b"keep-me")

    def test_peek_does_not_remove(self):
        c = self.mc()
        c.set("pk", "p")
        self.assertEqual(c.get("pk/peek"), b"p")
        self.assertEqual(c.get("pk"), b"p")

    def test_blocking_get_wakes_on_set(self):
        result = {}

        def reader():
            result["v"] = self.mc().get("blk/t=5000")

        t = threading.Thread(target=reader)
        t.start()
        time.sleep(0.1)  # let the get park first; the assertion does not depend on it
        self.pymc().set("blk", b"woken", noreply=False)
        t.join(10)
        self.assertEqual(result.get("v"), b"woken")

    def test_blocking_get_times_out_with_end(self):
        start = time.monotonic()
        self.assertIsNone(self.mc().get("empty-q/t=300"))
        self.assertGreaterEqual(time.monotonic() - start, 0.25)

    def test_fanout_subscription_sees_later_items(self):
        c = self.mc()
        self.assertIsNone(c.get("fan+audit"))  # first reference creates it at latest
        c.set("fan", "one")
        self.assertEqual(c.get("fan+audit"), b"one")
        self.assertEqual(c.get("fan"), b"one")

    def test_stats_have_kestrel_names(self):
        c = self.pymc()
        c.set("statq", b"v", noreply=False)
        stats = {k.decode() if isinstance(k, bytes) else k: v for k, v in c.stats().items()}
        for name in ("uptime", "time", "version", "curr_items", "total_items", "bytes",
                     "curr_connections", "total_connections", "cmd_get", "cmd_set",
                     "get_hits", "get_misses", "queue_statq_items"):
            self.assertIn(name, stats)
        self.assertEqual(int(stats["queue_statq_items"]), 1)

    def test_items_exclude_an_open_item(self):
        # Kestrel: items, bytes, mem_items and mem_bytes leave out open reads, which
        # open_transactions counts; the same for a fan-out child.
        c = self.mc()
        self.assertIsNone(c.get("opencount+child"))  # creates the child at the latest offset
        c.set("opencount", "aaaa")
        c.set("opencount", "bbbbbb")
        self.assertEqual(c.get("opencount/open"), b"aaaa")
        self.assertEqual(c.get("opencount+child/open"), b"aaaa")
        stats = self.stats()
        for name in ("opencount", "opencount+child"):
            self.assertEqual(int(stats["queue_%s_items" % name]), 1, name)
            self.assertEqual(int(stats["queue_%s_bytes" % name]), 6, name)
            self.assertEqual(int(stats["queue_%s_mem_items" % name]), 1, name)
            self.assertEqual(int(stats["queue_%s_mem_bytes" % name]), 6, name)
            self.assertEqual(int(stats["queue_%s_open_transactions" % name]), 1, name)
        s = self.raw()
        s.sendall(b"dump_stats opencount\r\n")
        buf = b""
        deadline = time.monotonic() + 5
        while not buf.endswith(b"END\r\n") and time.monotonic() < deadline:
            buf += s.recv(4096)
        s.close()
        self.assertIn(b"  items=1\r\n", buf)
        self.assertIn(b"  open_transactions=1\r\n", buf)
        # The close is answered once durable; then nothing is open.
        self.assertIsNone(c.get("opencount/close"))
        stats = self.stats()
        self.assertEqual(int(stats["queue_opencount_items"]), 1)
        self.assertEqual(int(stats["queue_opencount_open_transactions"]), 0)
        c.disconnect_all()

    def test_confirm_and_flush_answer(self):
        s = self.raw()
        s.sendall(b"set cf 0 0 1\r\na\r\nset cf 0 0 1\r\nb\r\nget cf/open\r\nconfirm cf 1\r\n"
                  b"confirm cf 1\r\nflush cf\r\nget cf\r\n")
        want = (b"STORED\r\nSTORED\r\nVALUE cf 0 1\r\na\r\nEND\r\nEND\r\nERROR\r\nEND\r\n"
                b"END\r\n")
        buf = b""
        deadline = time.monotonic() + 5
        while len(buf) < len(want) and time.monotonic() < deadline:
            buf += s.recv(4096)
        s.close()
        self.assertEqual(buf, want)

    def test_exact_reply_texts(self):
        s = self.raw()
        s.sendall(b"set exact 0 0 5\r\nhello\r\nget exact\r\nget exact\r\ndelete exact\r\n"
                  b"flush_all\r\nversion\r\n")
        want = (b"STORED\r\nVALUE exact 0 5\r\nhello\r\nEND\r\nEND\r\nDELETED\r\n"
                b"Flushed all queues.\r\nVERSION ")
        buf = b""
        deadline = time.monotonic() + 5
        while len(buf) < len(want) and time.monotonic() < deadline:
            buf += s.recv(4096)
        self.assertEqual(buf[:len(want)], want)
        s.close()

    def test_readonly_and_quiescent_refuse_delete_and_flush(self):
        c = self.pymc()
        self.assertTrue(c.set("ro", b"kept", noreply=False))

        def ask(request):
            s = self.raw()
            s.sendall(request)
            buf = b""
            deadline = time.monotonic() + 5
            while not buf.endswith(b"\r\n") and time.monotonic() < deadline:
                buf += s.recv(4096)
            s.close()
            return buf

        for status in (b"readonly", b"quiescent"):
            self.assertEqual(ask(b"status " + status + b"\r\n"), b"END\r\n")
            try:
                refusal = b"SERVER_ERROR server is " + status.upper() + b"\r\n"
                for request in (b"delete ro\r\n", b"flush ro\r\n", b"flush_all\r\n"):
                    self.assertEqual(ask(request), refusal, request)
                with self.assertRaises(MemcacheServerError):
                    self.pymc().delete("ro", noreply=False)
                if status == b"readonly":
                    self.assertTrue(ask(b"get ro/peek\r\n").startswith(b"VALUE ro 0 4\r\n"))
            finally:
                self.assertEqual(ask(b"status up\r\n"), b"END\r\n")
        self.assertEqual(c.get("ro"), b"kept")
        c.close()

    def test_unknown_command_is_client_error_and_closes(self):
        s = self.raw()
        s.sendall(b"incr foo 1\r\n")
        self.assertEqual(s.recv(4096), b"CLIENT_ERROR unknown command\r\n")
        self.assertEqual(s.recv(4096), b"")
        s.close()

    def test_garbage_does_not_hurt_the_server(self):
        for junk in (b"\x00\xff" * 100 + b"\r\n", b"set q 0 0 -5\r\n", b"get\r\n",
                     b"set q 0 0 99999999999\r\n", b"\r\n" * 10):
            s = self.raw()
            s.sendall(junk)
            try:
                s.recv(4096)
            except OSError:
                pass
            s.close()
        c = self.pymc()
        self.assertTrue(c.set("after-junk", b"fine", noreply=False))
        self.assertEqual(c.get("after-junk"), b"fine")


class MemcacheDurability(unittest.TestCase):
    def test_sigkill_keeps_every_stored_item(self):
        server = Sakerd("--sync", "always").start()
        try:
            c = PyMemcache(("127.0.0.1", server.ports["memcache"]), timeout=10)
            stored = []
            for i in range(300):
                if c.set("crash", b"v%d" % i, noreply=False):
                    stored.append(b"v%d" % i)
            server.kill()
            again = Sakerd(data_dir=server.data_dir).start()
            try:
                c2 = PyMemcache(("127.0.0.1", again.ports["memcache"]), timeout=10)
                got = []
                while True:
                    v = c2.get("crash")
                    if v is None:
                        break
                    got.append(v)
                self.assertEqual(got, stored)
            finally:
                again.stop()
                again.cleanup()
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
