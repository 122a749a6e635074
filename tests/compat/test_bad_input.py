#!/usr/bin/python3
"""Bad input against a real sakerd: native Thrift calls with missing or wrong-typed fields
(hand-built frames, replies read with python3-thrift's code generated from thrift/saker.thrift),
CLIENT_ERROR messages, and request deadlines (request_timeout_ms) on every port, which must not
cut a long-poll get."""
import os
import socket
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.environ.get("SAKER_GEN_PY", ""))

from saker import Saker  # noqa: E402
from saker.ttypes import ErrorCode, PutItem  # noqa: E402
from thrift.protocol import TBinaryProtocol  # noqa: E402
from thrift.Thrift import TMessageType  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

from sakerd import Sakerd, TIMEOUT_MULT, wait_for  # noqa: E402

REQUEST_TIMEOUT_MS = 400

# TBinaryProtocol type ids.
T_STOP, T_I32, T_STRING, T_STRUCT, T_LIST = 0, 8, 11, 12, 15


def field(ftype, fid, value=b""):
    return struct.pack(">bh", ftype, fid) + value


def string(s):
    data = s.encode() if isinstance(s, str) else s
    return struct.pack(">i", len(data)) + data


def call_frame(method, args, seqid=7):
    body = struct.pack(">I", 0x80010001) + string(method) + struct.pack(">i", seqid) + args
    return struct.pack(">i", len(body)) + body


def read_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def closed_within(sock, seconds):
    """True if the peer closes `sock` before `seconds` (scaled) pass; bytes read are dropped."""
    sock.settimeout(seconds * TIMEOUT_MULT)
    try:
        while sock.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fd, cls.config = tempfile.mkstemp(prefix="saker-bad-input-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write("[server]\nrequest_timeout_ms = %d\n" % REQUEST_TIMEOUT_MS)
        cls.server = Sakerd("--config", cls.config).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()
        os.remove(cls.config)

    def dial(self, name):
        return socket.create_connection(("127.0.0.1", self.server.ports[name]), timeout=10)

    def native_call(self, method, args, result_type):
        """Sends one hand-built call; returns the decoded <method>_result."""
        s = self.dial("thrift")
        try:
            s.sendall(call_frame(method, args))
            (length,) = struct.unpack(">i", read_exactly(s, 4))
            proto = TBinaryProtocol.TBinaryProtocol(
                TTransport.TMemoryBuffer(read_exactly(s, length)))
            name, mtype, seqid = proto.readMessageBegin()
            self.assertEqual((name, mtype, seqid), (method, TMessageType.REPLY, 7))
            result = result_type()
            result.read(proto)
            return result
        finally:
            s.close()

    def assertInvalid(self, method, args, result_type, message):
        result = self.native_call(method, args, result_type)
        self.assertIsNotNone(result.err, "answered success: %r" % (result,))
        self.assertEqual(result.err.code, ErrorCode.INVALID_ARGUMENT)
        self.assertIn(message, result.err.message)

    # --- native Thrift fields ----------------------------------------------------------------

    def test_put_items_without_queue_or_items_is_invalid_argument(self):
        item = field(T_STRING, 1, string("x")) + bytes([T_STOP])
        items = field(T_LIST, 2, bytes([T_STRUCT]) + struct.pack(">i", 1) + item)
        self.assertInvalid("put_items", items + bytes([T_STOP]), Saker.put_items_result,
                           "missing field 1 (queue)")
        self.assertInvalid("put_items", field(T_STRING, 1, string("bi")) + bytes([T_STOP]),
                           Saker.put_items_result, "missing field 2 (items)")
        empty = field(T_LIST, 2, bytes([T_STRUCT]) + struct.pack(">i", 0))
        self.assertInvalid("put_items", field(T_STRING, 1, string("bi")) + empty + bytes([T_STOP]),
                           Saker.put_items_result, "items is empty")
        self.assertInvalid("put_items", field(T_STRING, 1, string("")) + items + bytes([T_STOP]),
                           Saker.put_items_result, "bad queue name")

    def test_wrong_typed_fields_are_invalid_argument(self):
        items = field(T_LIST, 2, bytes([T_STRUCT]) + struct.pack(">i", 0))
        self.assertInvalid("put_items", field(T_I32, 1, struct.pack(">i", 3)) + items +
                           bytes([T_STOP]), Saker.put_items_result,
                           "field 1 (queue) is i32, want string")
        get = (field(T_STRING, 1, string("bi")) + field(T_STRING, 2, string("")) +
               field(T_STRING, 3, string("10")) + bytes([T_STOP]))
        self.assertInvalid("get_items", get, Saker.get_items_result,
                           "field 3 (max_items) is string, want i32")

    def test_out_of_range_values_are_invalid_argument(self):
        def get_args(max_items, wait_ms):
            return (field(T_STRING, 1, string("bi")) + field(T_STRING, 2, string("")) +
                    field(T_I32, 3, struct.pack(">i", max_items)) +
                    field(T_I32, 4, struct.pack(">i", wait_ms)) + bytes([T_STOP]))
        self.assertInvalid("get_items", get_args(0, 0), Saker.get_items_result, "max_items is 0")
        self.assertInvalid("get_items", get_args(1, -5), Saker.get_items_result, "wait_ms is -5")
        ack = field(T_STRING, 1, string("bi")) + field(T_LIST, 2, bytes([10]) + struct.pack(
            ">i", 0)) + bytes([T_STOP])
        self.assertInvalid("ack", ack, Saker.ack_result, "lease_ids is empty")

    def test_generated_client_still_works_and_nothing_was_stored(self):
        sock = TSocket.TSocket("127.0.0.1", self.server.ports["thrift"])
        transport = TTransport.TFramedTransport(sock)
        client = Saker.Client(TBinaryProtocol.TBinaryProtocol(transport))
        transport.open()
        try:
            self.assertEqual(client.queue_info("bi").next_offset, 1)
            self.assertEqual(client.put_items("bi-ok", [PutItem(data=b"a")]).accepted, 1)
            self.assertEqual([i.data for i in client.get_items("bi-ok", "", 1, 0, 0)], [b"a"])
        finally:
            transport.close()

    # --- CLIENT_ERROR messages ---------------------------------------------------------------

    def test_every_client_error_says_what_was_wrong(self):
        for request, message in ((b"incr q 1\r\n", b"unknown command"),
                                 (b"get q/t=x\r\n", b"bad t= option"),
                                 (b"get bad!name\r\n", b"bad queue name"),
                                 (b"set q 0 0 x\r\n", b"bad data length")):
            s = self.dial("memcache")
            s.sendall(request)
            line = s.makefile("rb").readline()
            s.close()
            self.assertTrue(line.startswith(b"CLIENT_ERROR " + message), (request, line))

    def test_text_protocol_refuses_flush_and_delete_under_readonly(self):
        s = self.dial("text")
        reader = s.makefile("rb")
        s.sendall(b"put textro:\nkept\n\nstatus readonly\n")
        self.assertEqual(reader.readline(), b"+1\n")
        self.assertEqual(reader.readline(), b"+0\n")
        try:
            for request in (b"flush textro\n", b"delete textro\n"):
                s.sendall(request)
                self.assertEqual(reader.readline(), b"-server is READONLY\n", request)
        finally:
            s.sendall(b"status up\n")
            self.assertEqual(reader.readline(), b"+0\n")
        s.sendall(b"peek textro\n")
        self.assertEqual(reader.readline(), b":kept\n")
        s.close()

    # --- request deadlines -------------------------------------------------------------------

    def assertTrickleIsCut(self, port_name, first, trickle):
        """Sends `first`, then one byte of `trickle` every 100 ms: the connection must close
        after about REQUEST_TIMEOUT_MS, though bytes keep arriving."""
        s = self.dial(port_name)
        start = time.monotonic()
        s.sendall(first)
        closed = False
        try:
            for b in trickle:
                if closed_within(s, 0.1):
                    closed = True
                    break
                s.sendall(bytes([b]))
            closed = closed or closed_within(s, 5)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        finally:
            s.close()
        self.assertTrue(closed, port_name + ": a trickled request was never cut")
        self.assertGreaterEqual(time.monotonic() - start, REQUEST_TIMEOUT_MS / 1000.0 * 0.9)

    def test_trickled_memcache_request_is_closed(self):
        self.assertTrickleIsCut("memcache", b"set trickle 0 0 100\r\n", b"x" * 200)
        self.assertTrickleIsCut("memcache", b"get trick", b"le/t=10" * 20)

    def test_trickled_text_thrift_and_http_requests_are_closed(self):
        self.assertTrickleIsCut("text", b"put trickle:\n", b"item\n" * 40)
        self.assertTrickleIsCut("thrift", struct.pack(">i", 1000), b"\x80" * 200)
        self.assertTrickleIsCut("admin", b"GET /metrics HTTP/1.1\r\n", b"X-Slow: yes\r\n" * 20)

    def test_timeouts_are_counted_in_metrics(self):
        self.assertTrickleIsCut("memcache", b"set counted 0 0 10\r\n", b"x" * 100)

        def timeouts():
            s = self.dial("admin")
            s.sendall(b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
            body = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                body += chunk
            s.close()
            for line in body.decode().splitlines():
                if line.startswith("saker_request_timeouts_total "):
                    return float(line.split()[1])
            return None
        self.assertTrue(wait_for(lambda: (timeouts() or 0) >= 1))

    def test_long_poll_get_outlives_the_request_deadline(self):
        wait_ms = 3 * REQUEST_TIMEOUT_MS
        s = self.dial("memcache")
        reader = s.makefile("rb")
        start = time.monotonic()
        s.sendall(b"get longpoll/t=%d\r\nversion\r\n" % wait_ms)
        self.assertEqual(reader.readline(), b"END\r\n")
        self.assertGreaterEqual(time.monotonic() - start, wait_ms / 1000.0 * 0.9)
        self.assertTrue(reader.readline().startswith(b"VERSION "))
        # Idle time between requests has no deadline either: stay idle past it on purpose.
        time.sleep(2 * REQUEST_TIMEOUT_MS / 1000.0)
        s.sendall(b"set longpoll 0 0 2\r\nok\r\n")
        self.assertEqual(reader.readline(), b"STORED\r\n")
        s.close()

    def test_native_long_poll_outlives_the_request_deadline(self):
        sock = TSocket.TSocket("127.0.0.1", self.server.ports["thrift"])
        sock.setTimeout(20000)
        transport = TTransport.TFramedTransport(sock)
        client = Saker.Client(TBinaryProtocol.TBinaryProtocol(transport))
        transport.open()
        try:
            start = time.monotonic()
            self.assertEqual(client.get_items("longpoll-native", "", 1, 3 * REQUEST_TIMEOUT_MS,
                                              0), [])
            self.assertGreaterEqual(time.monotonic() - start, 3 * REQUEST_TIMEOUT_MS / 1000.0 * 0.9)
            self.assertEqual(client.put_items("longpoll-native", [PutItem(data=b"z")]).accepted, 1)
        finally:
            transport.close()


if __name__ == "__main__":
    unittest.main()
