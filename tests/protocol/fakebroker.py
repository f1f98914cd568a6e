#!/usr/bin/python3
"""fakebroker: a broker-side driver for the real assay-worker, through the codec of
pyworker.py (written from common/PROTOCOL.md alone). It binds a ROUTER, lets one
worker register and checks the worker's side of the contract:

  §4.2  READY proposes an interval; WELCOME's values are taken
  §4.8  the same (id, at) twice: one answer; a TASK beyond the kind's slots and a
        kind not advertised: a declined FAIL (rt true, dr true), nothing run
  §5    a RESULT's output is a JSON object
  §4.7  on SIGTERM: DISCONNECT first, a TASK that crosses it is declined, the running
        task still reports, then a last DISCONNECT
  §6    worker-to-broker commands sent to the worker are dropped and counted
        (assay_proto_rejected_total{reason="wrong_direction"} on its /metrics)

    fakebroker.py --bind ENDPOINT --secret-key-file F --worker-pid-file F
                  --worker-metrics HOST:PORT

The worker must run with --slots noop=1. Exits 0 when every rule holds, 1 naming
the rule otherwise, 77 without python3-zmq/msgpack.
"""
import os
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyworker as pw  # noqa: E402 (exits 77 without zmq/msgpack)
import zmq  # noqa: E402


def die(text):
    print("fakebroker: FAIL: %s" % text, file=sys.stderr)
    sys.exit(1)


def note(text):
    print("fakebroker: %s" % text)
    sys.stdout.flush()


class Router:
    def __init__(self, bind, keyfile):
        self.ctx = zmq.Context()
        s = self.ctx.socket(zmq.ROUTER)
        s.setsockopt(zmq.LINGER, 0)
        if keyfile:
            pub, sec = pw.read_keypair(keyfile)
            s.curve_server = True
            s.curve_secretkey = sec
            s.curve_publickey = pub
        s.bind(bind)
        self.sock = s
        self.peer = None

    def send(self, code, msg):
        self.sock.send_multipart([self.peer] + pw.encode(code, msg))

    def recv(self, timeout):
        """(code, msg) from the worker, skipping HEARTBEATs, or None after timeout s"""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                return None
            frames = self.sock.recv_multipart()
            self.peer = frames[0]
            code, msg = pw.decode(frames[1:])
            if code != pw.HEARTBEAT:
                return code, msg

    def expect(self, code, what, timeout=15.0):
        got = self.recv(timeout)
        if got is None:
            die("%s: no %s within %.0f s" % (what, pw.NAMES[code], timeout))
        if got[0] != code:
            die("%s: expected %s, got %s %r" % (what, pw.NAMES[code], pw.NAMES[got[0]], got[1]))
        return got[1]


def task(tid, kind="noop", delay=0, to=30000):
    return {"id": tid, "at": 1, "k": kind, "in": '{"q":"%d"}' % tid,
            "pa": '{"delay_ms":%d}' % delay, "to": to}


def main(argv):
    args = dict(zip(argv[1::2], argv[2::2]))
    r = Router(args["--bind"], args.get("--secret-key-file"))
    ready = r.expect(pw.READY, "registration", 30)
    if ready["s"] != {"noop": 1}:
        die("the worker must run with --slots noop=1, READY says %r" % ready["s"])
    r.send(pw.WELCOME, {"hb": 500, "l": 20, "b": "fake", "lg": 30000})
    note("registered %s (proposed hb %d)" % (ready["w"], ready["hb"]))

    # §6: commands only a worker sends, sent to the worker: dropped and counted
    for i in range(50):
        r.send(pw.RESULT, {"id": 900 + i, "at": 1, "out": "{}", "us": 1})
    series = 'assay_proto_rejected_total{reason="wrong_direction"}'
    end = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen("http://%s/metrics" % args["--worker-metrics"],
                                        timeout=5) as m:
                lines = [x for x in m.read().decode().split("\n") if x.startswith(series + " ")]
        except OSError:
            lines = []
        if lines and float(lines[0].split()[1]) == 50:
            break
        if time.monotonic() > end:
            die("the worker did not count 50 wrong-direction messages: %r" % lines)
        time.sleep(0.1)
    note("50 wrong-direction messages counted by the worker")

    # §4.8: the same attempt twice, one answer; beyond the slots and an unknown kind
    # are declined without running
    r.send(pw.TASK, task(1, delay=1500))
    r.send(pw.TASK, task(1, delay=1500))
    r.send(pw.TASK, task(2))
    f = r.expect(pw.FAIL, "a TASK beyond the kind's one slot")
    if f["id"] != 2 or not f.get("dr") or not f["rt"]:
        die("a TASK beyond the slots must get a declined FAIL, got %r" % f)
    r.send(pw.TASK, task(3, kind="tag"))
    f = r.expect(pw.FAIL, "a TASK of a kind not advertised")
    if f["id"] != 3 or not f.get("dr") or not f["rt"]:
        die("a kind not advertised must get a declined FAIL, got %r" % f)
    res = r.expect(pw.RESULT, "task 1")
    if res["id"] != 1:
        die("expected the RESULT of task 1, got %r" % res)
    if not res["out"].startswith("{"):
        die("an output must be a JSON object: %r" % res["out"])
    extra = r.recv(2.5)  # a second run of task 1 would answer now
    if extra is not None:
        die("a second answer after the RESULT of task 1: %s %r" % (pw.NAMES[extra[0]], extra[1]))
    note("duplicate ignored; beyond-slots and unknown kind declined")

    # §4.7: SIGTERM drains
    r.send(pw.TASK, task(4, delay=2000))
    time.sleep(0.3)
    pid = int(open(args["--worker-pid-file"]).read().strip())
    os.kill(pid, signal.SIGTERM)
    d = r.expect(pw.DISCONNECT, "SIGTERM")
    r.send(pw.TASK, task(5))
    f = r.expect(pw.FAIL, "a TASK that crossed the DISCONNECT")
    if f["id"] != 5 or not f.get("dr") or not f["rt"]:
        die("a TASK while draining must get a declined FAIL, got %r" % f)
    res = r.expect(pw.RESULT, "the task running at SIGTERM")
    if res["id"] != 4:
        die("expected the RESULT of task 4, got %r" % res)
    r.expect(pw.DISCONNECT, "the end of the drain")
    note("drained: DISCONNECT (%s), crossing TASK declined, running task reported, DISCONNECT"
         % d.get("why"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
