#!/usr/bin/python3
"""probe: drives the real broker with hand-made messages, one PROTOCOL.md rule per
scenario, using the codec of pyworker.py (written from the document alone).

    probe.py SCENARIO --metrics HOST:PORT [--job ID]

The broker address and the CurveZMQ keys come from the environment
(ASSAY_BROKER, ASSAY_WORKER_KEY_FILE, ASSAY_WORKER_BROKER_PUBLIC_KEY), the
database from ASSAY_DB (psql). Each scenario exits 0 when the broker follows the
rule, 1 with a message naming the rule otherwise, 77 without python3-zmq/msgpack.
Waits are polls with generous limits: a rule that holds passes as soon as it
shows.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyworker as pw  # noqa: E402 (exits 77 without zmq/msgpack)
import zmq  # noqa: E402

ARGS = {}


def die(text):
    print("probe %s: FAIL: %s" % (ARGS.get("scenario"), text), file=sys.stderr)
    sys.exit(1)


def note(text):
    print("probe %s: %s" % (ARGS.get("scenario"), text))
    sys.stdout.flush()


def sql(query):
    out = subprocess.run(["psql", os.environ["ASSAY_DB"], "-At", "-v", "ON_ERROR_STOP=1",
                          "-c", query], capture_output=True, text=True)
    if out.returncode != 0:
        die("psql: %s" % out.stderr.strip())
    return out.stdout.strip()


def metric(series):
    """the value of one series (exact name with labels) of the broker's /metrics"""
    with urllib.request.urlopen("http://%s/metrics" % ARGS["metrics"], timeout=5) as r:
        for line in r.read().decode().split("\n"):
            if line.startswith(series + " "):
                return float(line.split()[1])
    return 0.0


def rejected(reason):
    return metric('assay_proto_rejected_total{reason="%s"}' % reason)


def until(what, fn, limit=30.0):
    """poll fn() until it returns a true value; fail naming what after limit s"""
    end = time.monotonic() + limit
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            die("waited %.0f s for %s" % (limit, what))
        time.sleep(0.1)


class Peer:
    """one DEALER connection to the broker"""
    ctx = zmq.Context()

    def __init__(self):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        kf = os.environ.get("ASSAY_WORKER_KEY_FILE")
        if kf:
            pub, sec = pw.read_keypair(kf)
            s.curve_publickey, s.curve_secretkey = pub, sec
            s.curve_serverkey = pw.read_public(os.environ["ASSAY_WORKER_BROKER_PUBLIC_KEY"])
        s.connect(os.environ["ASSAY_BROKER"])
        self.sock = s

    def send(self, code, msg):
        self.sock.send_multipart(pw.encode(code, msg))

    def send_raw(self, frames):
        self.sock.send_multipart(frames)

    def recv(self, timeout):
        """the next message as (code, dict), or None after timeout s"""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return pw.decode(self.sock.recv_multipart())

    def expect(self, code, timeout=10.0, skip=(pw.HEARTBEAT,)):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            got = self.recv(max(left, 0)) if left > 0 else None
            if got is None:
                die("no %s within %.0f s" % (pw.NAMES[code], timeout))
            if got[0] == code:
                return got[1]
            if got[0] not in skip:
                die("expected %s, got %s %r" % (pw.NAMES[code], pw.NAMES[got[0]], got[1]))

    def register(self, name, slots, hb=1000):
        self.send(pw.READY, {"v": 1, "w": name, "hb": hb, "s": slots})
        return self.expect(pw.WELCOME)

    def quiet(self, seconds, forbid=pw.TASK):
        """read for seconds; fail on a message of command forbid"""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            got = self.recv(max(end - time.monotonic(), 0))
            if got and got[0] == forbid:
                die("unexpected %s %r" % (pw.NAMES[forbid], got[1]))

    def close(self):
        self.sock.close()


def task_row(tid):
    return sql("SELECT state || ' ' || attempt || ' ' || coalesce(last_error, '') FROM tasks"
               " WHERE id = %d" % tid)


# ---------------------------------------------------------------------------

def s_welcome():
    """§4.2: the proposed interval within the bounds; WELCOME carries it and lg"""
    for proposed, expect in ((700, 700), (100, 300), (5000, 2000)):
        p = Peer()
        w = p.register("hb-%d" % proposed, {"none": 1}, hb=proposed)
        if w["hb"] != expect:
            die("proposed hb %d, WELCOME says %d, expected %d (bounds 300..2000)"
                % (proposed, w["hb"], expect))
        if not w.get("lg"):
            die("WELCOME without a lease grace (lg): %r" % w)
        p.send(pw.DISCONNECT, {"why": "done"})
        p.close()
    note("heartbeat clamped to the bounds; lg = %d" % w["lg"])


def s_ready_twice():
    """§4.6: READY repeated, or from a new connection with the same name: one registration"""
    # the scenarios before this one leave nobody registered (the gauge lags 250 ms)
    until("no worker registered", lambda: metric("assay_broker_workers") == 0)
    base = 0
    a = Peer()
    a.register("twice", {"none": 1})
    a.register("twice", {"none": 2})
    b = Peer()
    b.register("twice", {"none": 1})
    until("the workers gauge to show one more worker, not two",
          lambda: metric("assay_broker_workers") == base + 1)
    time.sleep(0.6)  # two publications later
    n = metric("assay_broker_workers")
    if n != base + 1:
        die("workers = %d after READY twice and a second connection (expected %d)" % (n, base + 1))
    b.send(pw.DISCONNECT, {"why": "done"})
    until("the registration to end", lambda: metric("assay_broker_workers") == base)
    a.close()
    b.close()
    note("one registration per worker name")


def s_ready_keeps():
    """§4.6: READY again on the same connection keeps the attempts outstanding there"""
    a = Peer()
    a.register("again", {"noop": 1})
    t = a.expect(pw.TASK, 30)
    a.register("again", {"noop": 1})
    a.quiet(1.5)  # its one credit is still used by t: no second TASK
    a.send(pw.RESULT, {"id": t["id"], "at": t["at"], "out": '{"kept":true}', "us": 1})
    until("task %d done" % t["id"], lambda: task_row(t["id"]).startswith("done"))
    row = task_row(t["id"])
    if int(row.split(" ")[1]) != t["at"]:
        die("task %d was retried by the second READY: %s" % (t["id"], row))
    a.send(pw.DISCONNECT, {"why": "done"})
    a.send(pw.DISCONNECT, {"why": "bye"})
    a.close()
    note("READY again kept task %d: %s" % (t["id"], row))


def s_wrong_direction():
    """§6: WELCOME / TASK from a worker are counted by reason; the log stays short"""
    n = int(ARGS.get("count", 3000))
    before = rejected("wrong_direction")
    p = Peer()
    p.register("wrong", {"none": 1})
    for i in range(n):
        if i % 2:
            p.send(pw.WELCOME, {"hb": 1000, "l": 3, "b": "me"})
        else:
            p.send(pw.TASK, {"id": i + 1, "at": 1, "k": "noop", "in": "{}", "pa": "{}", "to": 0})
    until("%d wrong_direction rejects" % n, lambda: rejected("wrong_direction") >= before + n)
    p.send(pw.DISCONNECT, {"why": "done"})
    p.close()
    note("%d wrong-direction messages counted" % n)


def s_unregistered():
    """§6: HEARTBEAT before READY: counted, answered with one DISCONNECT"""
    before = rejected("unregistered")
    p = Peer()
    p.send(pw.HEARTBEAT, {"n": 0})
    d = p.expect(pw.DISCONNECT)
    if "READY" not in (d.get("why") or ""):
        die("DISCONNECT without the READY hint: %r" % d)
    until("an unregistered reject", lambda: rejected("unregistered") >= before + 1)
    p.close()
    note("unregistered HEARTBEAT counted and answered")


def s_bad_version():
    """§6/§7: a version the broker does not speak is answered with DISCONNECT"""
    before = rejected("bad_version")
    p = Peer()
    frames = pw.encode(pw.READY, {"v": 2, "w": "future", "hb": 1000, "s": {"none": 1}})
    frames[0] = b"ASY\x02"
    p.send_raw(frames)
    d = p.expect(pw.DISCONNECT)
    if "unsupported protocol version" not in (d.get("why") or ""):
        die("DISCONNECT does not say why: %r" % d)
    until("a bad_version reject", lambda: rejected("bad_version") >= before + 1)
    p.close()
    note("unsupported version answered: %s" % d["why"])


def s_not_holder():
    """§5: a report from a connection that does not hold the attempt is dropped and
    returns nobody's credit; the holder's report counts"""
    a = Peer()
    a.register("holder", {"noop": 1})
    t = a.expect(pw.TASK, 30)
    before = rejected("not_holder")
    b = Peer()  # never registered
    b.send(pw.RESULT, {"id": t["id"], "at": t["at"], "out": '{"from":"b"}', "us": 1})
    # the broker answers an unregistered sender once it has read its message; a
    # credit returned by it would have been used in the same pass
    b.expect(pw.DISCONNECT)
    a.quiet(1.0)  # the holder's one credit is still in use
    c = Peer()  # registered, runs another kind
    c.register("other", {"none": 1})
    c.send(pw.FAIL, {"id": t["id"], "at": t["at"], "rt": False, "why": "not mine", "us": 1})
    until("two not_holder rejects", lambda: rejected("not_holder") >= before + 2)
    a.quiet(1.0)
    row = task_row(t["id"])
    if row.startswith("done") or row.startswith("dead"):
        die("task %d was decided by a connection that does not hold it: %s" % (t["id"], row))
    a.send(pw.RESULT, {"id": t["id"], "at": t["at"], "out": '{"from":"a"}', "us": 1})
    t2 = a.expect(pw.TASK, 30)  # the credit came back to its holder
    until("task %d done" % t["id"], lambda: task_row(t["id"]).startswith("done"))
    out = sql("SELECT output::text FROM task_outputs WHERE task_id = %d" % t["id"])
    if "\"a\"" not in out:
        die("stored output is not the holder's: %s" % out)
    a.send(pw.RESULT, {"id": t2["id"], "at": t2["at"], "out": "{}", "us": 1})
    a.send(pw.DISCONNECT, {"why": "done"})
    a.send(pw.DISCONNECT, {"why": "bye"})
    c.send(pw.DISCONNECT, {"why": "done"})
    for p in (a, b, c):
        p.close()
    note("reports from non-holders dropped; holder's stored")


def s_bad_output():
    """§5 Outputs: not a JSON object -> permanent failure, counted as bad_output"""
    before = rejected("bad_output")
    a = Peer()
    a.register("badout", {"noop": 1})
    ids = []
    for out in ("[1,2]", "42", "{\"unterminated\":"):
        t = a.expect(pw.TASK, 30)
        a.send(pw.RESULT, {"id": t["id"], "at": t["at"], "out": out, "us": 1})
        ids.append(t["id"])
    until("three bad_output rejects", lambda: rejected("bad_output") >= before + 3)
    for tid in ids:
        until("task %d dead with the reason" % tid,
              lambda: task_row(tid).startswith("dead") and "not a JSON object" in task_row(tid))
    a.send(pw.DISCONNECT, {"why": "done"})
    a.close()
    note("non-object outputs end as permanent failures: %s" % task_row(ids[0]))


def s_declined():
    """§5 Declined: FAIL dr from the holder hands the task back without counting an
    attempt: the task (the job's only one) comes back with the same attempt number"""
    before = metric("assay_broker_declined_total")
    a = Peer()
    a.register("decliner", {"noop": 1})
    t = a.expect(pw.TASK, 30)
    a.send(pw.FAIL, {"id": t["id"], "at": t["at"], "rt": True, "why": "no free slot", "us": 0,
                     "dr": True})
    t2 = a.expect(pw.TASK, 60)  # the credit came back, and the task with it
    if t2["id"] != t["id"]:
        die("expected task %d again (the job has one task), got %d" % (t["id"], t2["id"]))
    if t2["at"] != t["at"]:
        die("declined attempt %d was counted: the task came back as attempt %d"
            % (t["at"], t2["at"]))
    until("the declined counter", lambda: metric("assay_broker_declined_total") >= before + 1)
    a.send(pw.RESULT, {"id": t2["id"], "at": t2["at"], "out": "{}", "us": 1})
    until("task %d done" % t["id"], lambda: task_row(t["id"]).startswith("done"))
    a.send(pw.DISCONNECT, {"why": "bye"})
    a.close()
    note("declined task %d came back as the same attempt %d, then done" % (t["id"], t2["at"]))


def s_drain():
    """§4.7: DISCONNECT with any reason stops dispatching; what runs still reports"""
    a = Peer()
    a.register("drainer", {"noop": 2})
    t1 = a.expect(pw.TASK, 30)
    t2 = a.expect(pw.TASK, 30)
    until("no other worker registered", lambda: metric("assay_broker_workers") == 1)
    base = 1
    a.send(pw.DISCONNECT, {"why": "shutting down"})  # not the word "draining"
    a.send(pw.RESULT, {"id": t1["id"], "at": t1["at"], "out": "{}", "us": 1})
    # its credit returned, but a draining worker gets nothing more
    until("task %d done" % t1["id"], lambda: task_row(t1["id"]).startswith("done"))
    a.quiet(1.5)
    if metric("assay_broker_workers") != base:
        die("the draining worker lost its registration while a task was outstanding")
    a.send(pw.RESULT, {"id": t2["id"], "at": t2["at"], "out": "{}", "us": 1})
    until("task %d done" % t2["id"], lambda: task_row(t2["id"]).startswith("done"))
    a.send(pw.DISCONNECT, {"why": "bye"})
    until("the registration to end", lambda: metric("assay_broker_workers") == base - 1)
    a.close()
    note("drained: both tasks done, no TASK after DISCONNECT")


def s_lease():
    """§5 Leases: at to + lg the credit returns and the attempt ends, both at once"""
    a = Peer()
    w = a.register("sleeper", {"noop": 1})
    t = a.expect(pw.TASK, 30)
    t0 = time.monotonic()
    lg = w.get("lg", 30000)  # its presence is s_welcome's business
    lease = (t["to"] + lg) / 1000.0
    note("holding task %d (to %d ms + lg %d ms) without answering" % (t["id"], t["to"], lg))
    end = t0 + lease + 60
    while True:  # heartbeats keep us alive while we sit on the task
        a.send(pw.HEARTBEAT, {"n": 1})
        got = a.recv(0.5)
        if got and got[0] == pw.TASK:
            break
        if time.monotonic() > end:
            die("no new TASK within to + lg + 60 s")
    waited = time.monotonic() - t0
    if waited < lease - 1.0:
        die("the credit came back after %.1f s, before to + lg = %.1f s" % (waited, lease))
    # the attempt ended when the credit came back: written with the next flush
    row = until("task %d to end as 'lease expired' with the credit" % t["id"],
                lambda: (lambda r: r if "lease expired" in r else None)(task_row(t["id"])), 5)
    a.send(pw.DISCONNECT, {"why": "done"})
    a.send(pw.DISCONNECT, {"why": "bye"})
    a.close()
    note("credit back after %.1f s (to + lg = %.1f s); task %d: %s" % (waited, lease, t["id"], row))


def s_heartbeat_n():
    """§3 HEARTBEAT n: exported as assay_broker_worker_running"""
    before = metric("assay_broker_worker_running")
    a = Peer()
    a.register("counter", {"none": 1})
    a.send(pw.HEARTBEAT, {"n": 3})
    until("worker_running to include n = 3",
          lambda: metric("assay_broker_worker_running") == before + 3)
    a.send(pw.DISCONNECT, {"why": "done"})
    a.close()
    note("HEARTBEAT n exported")


SCENARIOS = {"welcome": s_welcome, "ready_twice": s_ready_twice, "ready_keeps": s_ready_keeps,
             "wrong_direction": s_wrong_direction, "unregistered": s_unregistered,
             "bad_version": s_bad_version, "not_holder": s_not_holder,
             "bad_output": s_bad_output, "declined": s_declined, "drain": s_drain,
             "lease": s_lease, "heartbeat_n": s_heartbeat_n}


def main(argv):
    if len(argv) < 2 or argv[1] not in SCENARIOS:
        print("usage: probe.py {%s} --metrics HOST:PORT [--count N]" % ",".join(SCENARIOS),
              file=sys.stderr)
        return 2
    ARGS["scenario"] = argv[1]
    i = 2
    while i + 1 < len(argv):
        ARGS[argv[i].lstrip("-")] = argv[i + 1]
        i += 2
    SCENARIOS[argv[1]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
