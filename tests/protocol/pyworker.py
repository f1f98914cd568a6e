#!/usr/bin/python3
"""pyworker: a second, minimal assay worker, written from common/PROTOCOL.md alone.

It proves the document is enough to interoperate: the integration tests run it
beside real assay-workers. It speaks protocol version 1 over a ZeroMQ DEALER
(CurveZMQ when keys are given) and runs `noop`-like tasks: the output is
{"echo": input} after the stage's `delay_ms` (param), so tasks can be in flight
when a test kills or freezes something.

    pyworker.py --broker ENDPOINT --name NAME --slots KIND=N[,KIND=N] [options]
    pyworker.py --self-test PROTOCOL.md

Options: --hb MS (the heartbeat interval proposed in READY, default 1000),
--drain-s S (how long SIGTERM waits for running tasks, default 30),
--key-file F and --broker-key F-or-Z85 (CurveZMQ; default from the environment
variables ASSAY_WORKER_KEY_FILE / ASSAY_WORKER_BROKER_PUBLIC_KEY, none = plain
TCP), --bad-output array|scalar|invalid (answer with an output that is not a
JSON object, to test the broker's rule), --misbehave drop=P,dup=P,garbage=P (for
fault tests: with probability P per finished task, never report it, report it
twice, or send a malformed message first; --seed N makes it repeatable).

--self-test checks the codec against the worked examples of PROTOCOL.md §9 byte
for byte (decode each body, compare with the JSON shown, encode it again) and
against the decoding rules of §2; it exits 0 when all hold.

Needs python3-zmq and python3-msgpack; exits 77 when they are missing.
"""
import json
import os
import random
import re
import signal
import sys
import time

try:
    import msgpack
    import zmq
except ImportError as e:  # the test cannot run here
    print("pyworker: %s (install python3-zmq and python3-msgpack)" % e, file=sys.stderr)
    sys.exit(77)

VERSION = 1
MAX_BODY = 16 * 1024 * 1024
MAX_KINDS = 64
U32 = (1 << 32) - 1
U64 = (1 << 64) - 1

READY, WELCOME, TASK, RESULT, FAIL, HEARTBEAT, DISCONNECT = range(1, 8)
NAMES = {READY: "READY", WELCOME: "WELCOME", TASK: "TASK", RESULT: "RESULT",
         FAIL: "FAIL", HEARTBEAT: "HEARTBEAT", DISCONNECT: "DISCONNECT"}
CODES = {v: k for k, v in NAMES.items()}

# §3: key, type, required, minimum (uint) / non-empty (str). Order = encoding order.
SCHEMA = {
    READY: [("v", "uint", True, 1), ("w", "str", True, 1), ("hb", "uint", True, 1),
            ("s", "slots", True, 0)],
    WELCOME: [("hb", "uint", True, 1), ("l", "uint", True, 1), ("b", "str", True, 1),
              ("lg", "uint", False, 0)],
    TASK: [("id", "uint64", True, 0), ("at", "uint", True, 0), ("k", "str", True, 1),
           ("in", "json", True, 0), ("pa", "json", True, 0), ("to", "uint", True, 0)],
    RESULT: [("id", "uint64", True, 0), ("at", "uint", True, 0), ("out", "json", True, 0),
             ("us", "uint64", True, 0)],
    FAIL: [("id", "uint64", True, 0), ("at", "uint", True, 0), ("rt", "bool", True, 0),
           ("why", "str", True, 0), ("ra", "uint", False, 0), ("ep", "str?", False, 0),
           ("us", "uint64", True, 0), ("dr", "bool", False, 0)],
    HEARTBEAT: [("n", "uint", True, 0)],
    DISCONNECT: [("why", "str?", False, 0)],
}


class Malformed(Exception):
    """a message the protocol rejects; the reason names the §6 counter"""

    def __init__(self, counter, detail):
        Exception.__init__(self, "%s: %s" % (counter, detail))
        self.counter = counter


def _check_str(key, v, nonempty):
    if not isinstance(v, str):
        raise Malformed("malformed", "%s: expected str" % key)
    if "\0" in v:
        raise Malformed("malformed", "%s: contains NUL" % key)
    if nonempty and not v:
        raise Malformed("malformed", "%s: must not be empty" % key)


def _check_value(key, typ, v, minimum):
    if typ in ("uint", "uint64"):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise Malformed("malformed", "%s: expected a non-negative integer" % key)
        if v > (U32 if typ == "uint" else U64) or v < minimum:
            raise Malformed("malformed", "%s: %d out of range" % (key, v))
    elif typ == "bool":
        if not isinstance(v, bool):
            raise Malformed("malformed", "%s: expected true or false" % key)
    elif typ in ("str", "json"):
        _check_str(key, v, minimum > 0)
    elif typ == "str?":
        if v is not None:
            _check_str(key, v, False)
    elif typ == "slots":
        pairs = v if isinstance(v, list) else None
        if pairs is None:
            raise Malformed("malformed", "%s: expected a map" % key)
        if len(pairs) > MAX_KINDS:
            raise Malformed("malformed", "%s: more than %d kinds" % (key, MAX_KINDS))
        seen = set()
        for kind, n in pairs:
            _check_str(key, kind, True)
            if kind in seen:
                raise Malformed("malformed", "%s: kind %r twice" % (key, kind))
            seen.add(kind)
            _check_value(key, "uint", n, 1)


def _pairs_hook(pairs):
    return ("__pairs__", pairs)


def decode(frames):
    """frames (tag, command, body) -> (command, dict); raises Malformed"""
    if len(frames) != 3:
        raise Malformed("bad_frames", "%d frames" % len(frames))
    tag, cmd, body = frames
    if len(tag) != 4 or tag[:3] != b"ASY":
        raise Malformed("bad_tag", repr(tag))
    if tag[3] != VERSION:
        raise Malformed("bad_version", "version %d" % tag[3])
    if len(cmd) != 1 or cmd[0] not in SCHEMA:
        raise Malformed("bad_command", repr(cmd))
    if len(body) > MAX_BODY:
        raise Malformed("oversized", "%d bytes" % len(body))
    code = cmd[0]
    try:
        # raw=True: keys and strings come as bytes, so bin can be told from str
        # by type... msgpack-python gives bin as bytes too, so decode strictly
        # below; object_pairs_hook keeps duplicate keys visible
        obj = msgpack.unpackb(body, raw=False, object_pairs_hook=_pairs_hook,
                              strict_map_key=False, use_list=True)
    except msgpack.exceptions.ExtraData:
        raise Malformed("malformed", "bytes after the map")
    except (ValueError, msgpack.exceptions.UnpackValueError) as e:
        if "incomplete" in str(e).lower() or "insufficient" in str(e).lower():
            raise Malformed("truncated", str(e))
        raise Malformed("malformed", str(e))
    except Exception as e:  # msgpack raises a few types for broken input
        raise Malformed("malformed", str(e))
    if not (isinstance(obj, tuple) and obj[0] == "__pairs__"):
        raise Malformed("malformed", "body is not a map")
    fields = {f[0]: f for f in SCHEMA[code]}
    out = {}
    for k, v in obj[1]:
        if not isinstance(k, str):
            raise Malformed("malformed", "a key is not a str")
        if k in out:
            raise Malformed("malformed", "key %r twice" % k)
        if k not in fields:
            out[k] = None  # unknown keys are ignored (§2)
            continue
        _, typ, _, minimum = fields[k]
        if typ == "slots":
            if not (isinstance(v, tuple) and v[0] == "__pairs__"):
                raise Malformed("malformed", "%s: expected a map" % k)
            v = v[1]
        elif isinstance(v, tuple):
            raise Malformed("malformed", "%s: unexpected map" % k)
        _check_value(k, typ, v, minimum)
        out[k] = v
    msg = {}
    for key, typ, req, _ in SCHEMA[code]:
        if key in out and out[key] is not None:
            msg[key] = dict(out[key]) if typ == "slots" else out[key]
        elif req:
            raise Malformed("malformed", "missing %s" % key)
    return code, msg


def encode(code, msg):
    """(command, dict) -> the three frames; keys in the schema's order"""
    ordered = {}
    for key, typ, req, minimum in SCHEMA[code]:
        if key not in msg or msg[key] is None:
            if req:
                raise ValueError("%s: missing %s" % (NAMES[code], key))
            continue
        v = msg[key]
        if typ == "slots":
            if len(v) > MAX_KINDS:
                raise ValueError("too many kinds")
            for kind, n in v.items():
                _check_value(key, "uint", n, 1)
                _check_str(key, kind, True)
        else:
            _check_value(key, typ, v, minimum)
        ordered[key] = v
    body = msgpack.packb(ordered, use_bin_type=True)
    if len(body) > MAX_BODY:
        raise ValueError("body over %d bytes" % MAX_BODY)
    return [b"ASY" + bytes([VERSION]), bytes([code]), body]


# ---------------------------------------------------------------------------
# self-test: the worked examples of PROTOCOL.md §9 and the rules of §2

EXAMPLE = re.compile(r"^(W→B|B→W) (\w+)\s+tag ((?:[0-9a-f]{2} ){3}[0-9a-f]{2})\s+cmd ([0-9a-f]{2})"
                     r"\s+body \((\d+) bytes\)")


def examples(path):
    """the worked examples: (direction, command, tag, cmd, body bytes, JSON value)"""
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = EXAMPLE.match(lines[i])
        i += 1
        if not m:
            continue
        hexbytes = []
        while i < len(lines) and re.match(r"^    (?:[0-9a-f]{2} ?)+$", lines[i]):
            hexbytes += lines[i].split()
            i += 1
        if i >= len(lines) or not lines[i].startswith("    = "):
            raise SystemExit("%s:%d: expected the \"= {...}\" line of the %s example"
                             % (path, i + 1, m.group(2)))
        text = lines[i][6:]
        value, end = json.JSONDecoder().raw_decode(text)
        body = bytes(int(h, 16) for h in hexbytes)
        if len(body) != int(m.group(5)):
            raise SystemExit("%s:%d: the %s example says %s bytes, shows %d"
                             % (path, i + 1, m.group(2), m.group(5), len(body)))
        tag = bytes(int(h, 16) for h in m.group(3).split())
        out.append((m.group(1), m.group(2), tag, bytes([int(m.group(4), 16)]), body, value))
    return out


def self_test(path):
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    ex = examples(path)
    check(len(ex) >= 7, "fewer than 7 worked examples in %s" % path)
    for direction, name, tag, cmd, body, value in ex:
        check(name in CODES and cmd[0] == CODES[name], "%s: command byte %s" % (name, cmd.hex()))
        try:
            code, msg = decode([tag, cmd, body])
            check(msg == value, "%s: decodes to %r, the document shows %r" % (name, msg, value))
            again = encode(code, value)
            check(again[2] == body, "%s: encodes to %s, the document shows %s"
                  % (name, again[2].hex(" "), body.hex(" ")))
            check(again[0] == tag, "%s: tag" % name)
        except Malformed as e:
            failures.append("%s: rejected: %s" % (name, e))
    # §2 rules, on the first READY example
    ready = [e for e in ex if e[1] == "READY"][0]
    tag, cmd, body = ready[2], ready[3], ready[4]

    def rejects(frames, counter, what):
        try:
            decode(frames)
            failures.append("%s: accepted" % what)
        except Malformed as e:
            check(e.counter == counter, "%s: rejected as %s, expected %s" % (what, e.counter, counter))

    rejects([tag, cmd], "bad_frames", "two frames")
    rejects([b"ASZ\x01", cmd, body], "bad_tag", "bad tag")
    rejects([b"ASY\x02", cmd, body], "bad_version", "version 2")
    rejects([tag, b"\x09", body], "bad_command", "command 9")
    rejects([tag, cmd, body[:-1]], "truncated", "truncated body")
    rejects([tag, cmd, body + b"\xc0"], "malformed", "bytes after the map")
    rejects([tag, cmd, b""], "truncated", "empty body")
    dup = msgpack.packb([("v", 1), ("v", 1)], use_bin_type=True)  # an array, not a map
    rejects([tag, cmd, dup], "malformed", "not a map")
    twice = b"\x85" + body[1:] + b"\xa1\x76\x01"  # "v" again
    rejects([tag, cmd, twice], "malformed", "a key twice")
    extra = b"\x85" + body[1:] + b"\xa1\x7a\x91\xc0"  # unknown key "z": [nil]
    try:
        check(decode([tag, cmd, extra])[1] == ready[5], "unknown key changed the value")
    except Malformed as e:
        failures.append("unknown key rejected: %s" % e)
    neg = msgpack.packb({"v": -1, "w": "x", "hb": 1, "s": {}}, use_bin_type=True)
    rejects([tag, cmd, neg], "malformed", "negative uint")
    for f in failures:
        print("self-test: %s" % f, file=sys.stderr)
    print("self-test: %d examples, %s" % (len(ex), "FAILED" if failures else "ok"))
    return 1 if failures else 0


# ---------------------------------------------------------------------------
# the worker

def now_ms():
    return time.monotonic() * 1000.0


class Worker:
    def __init__(self, args):
        self.endpoint = args["broker"]
        self.name = args["name"]
        self.slots = args["slots"]
        self.proposed_hb = args["hb"]
        self.drain_s = args["drain_s"]
        self.bad_output = args["bad_output"]
        self.misbehave = args["misbehave"]
        self.rng = random.Random(args["seed"])
        self.key_file = args["key_file"]
        self.broker_key = args["broker_key"]
        self.ctx = zmq.Context()
        self.sock = None
        # §4.3: liveness 3 and the proposed interval until WELCOME says otherwise
        self.hb = self.proposed_hb
        self.liveness = 3
        self.lease_grace = 0
        self.registered = False
        self.running = {}  # (id, at) -> task
        self.outbox = []  # reports waiting for a registration (§4.5)
        self.draining = False
        self.drain_until = 0
        self.stop = False
        self.reconnect_ms = 250
        self.reconnect_at = 0
        self.ready_wait = 0
        self.last_ready = 0
        self.last_recv = now_ms()
        self.last_send = 0
        self.stats = {"done": 0, "failed": 0, "declined": 0, "ignored": 0, "rejected": 0,
                      "dropped": 0, "duplicated": 0, "garbage": 0}

    def say(self, text):
        sys.stderr.write("[%s] pyworker %s: %s\n" % (time.strftime("%H:%M:%S"), self.name, text))
        sys.stderr.flush()

    # -- transport
    def connect(self):
        if self.sock is not None:
            self.sock.setsockopt(zmq.LINGER, 0)
            self.sock.close()
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 2000)
        s.setsockopt(zmq.SNDHWM, 0)
        s.setsockopt(zmq.RCVHWM, 0)
        if self.key_file:
            pub, sec = read_keypair(self.key_file)
            s.curve_publickey = pub
            s.curve_secretkey = sec
            s.curve_serverkey = read_public(self.broker_key)
        s.connect(self.endpoint)
        self.sock = s
        self.registered = False
        self.last_recv = now_ms()
        self.ready_wait = self.liveness * self.hb
        self.send_ready()

    def send(self, code, msg):
        try:
            self.sock.send_multipart(encode(code, msg), flags=zmq.DONTWAIT)
        except zmq.Again:
            self.say("could not send %s: the pipe is full" % NAMES[code])
        self.last_send = now_ms()

    def send_ready(self):
        self.send(READY, {"v": VERSION, "w": self.name, "hb": self.proposed_hb,
                          "s": dict(self.slots)})
        self.last_ready = now_ms()

    def report(self, code, msg):
        # §4.3: until WELCOME the worker sends nothing but READY
        if self.registered:
            self.send(code, msg)
        else:
            self.outbox.append((code, msg))

    # -- messages from the broker
    def on_message(self, code, m):
        if code == WELCOME:
            self.hb = m["hb"]
            self.liveness = m["l"]
            self.lease_grace = m.get("lg", 0)
            self.registered = True
            self.reconnect_ms = 250
            self.say("registered with broker %s (heartbeat %d ms, liveness %d, lease grace %d ms)"
                     % (m["b"], self.hb, self.liveness, self.lease_grace))
            out, self.outbox = self.outbox, []
            for c, msg in out:
                self.send(c, msg)
        elif code == TASK:
            self.on_task(m)
        elif code == HEARTBEAT:
            pass
        elif code == DISCONNECT:
            # §4.7: the broker does not know us; keep the tasks, READY again at
            # most once per heartbeat interval (not while draining: we leave)
            self.registered = False
            if not self.draining and now_ms() - self.last_ready >= self.hb:
                self.send_ready()
        else:  # READY, RESULT, FAIL: worker-to-broker commands
            self.stats["rejected"] += 1

    def decline(self, t, why):
        # §3 FAIL `dr`: never started, handed back without counting an attempt
        self.stats["declined"] += 1
        self.report(FAIL, {"id": t["id"], "at": t["at"], "rt": True, "why": why, "us": 0,
                           "dr": True})

    def on_task(self, t):
        key = (t["id"], t["at"])
        if key in self.running:  # §4.8: the same attempt twice: the first answers
            self.stats["ignored"] += 1
            return
        if self.draining:
            return self.decline(t, "worker is shutting down")
        if t["k"] not in self.slots:
            return self.decline(t, "kind %s not offered by this worker" % t["k"])
        busy = sum(1 for r in self.running.values() if r["k"] == t["k"])
        if busy >= self.slots[t["k"]]:
            return self.decline(t, "no free %s slot" % t["k"])
        try:
            params = json.loads(t["pa"]) if t["pa"] else {}
            inp = json.loads(t["in"])
        except ValueError as e:
            self.stats["failed"] += 1
            return self.report(FAIL, {"id": t["id"], "at": t["at"], "rt": False,
                                      "why": "task input or params are not JSON: %s" % e, "us": 0})
        delay = params.get("delay_ms", 0) if isinstance(params, dict) else 0
        start = now_ms()
        run = {"k": t["k"], "id": t["id"], "at": t["at"], "start": start,
               "done_at": start + float(delay), "input": inp, "params": params,
               "give_up": start + t["to"] if t["to"] else None}
        self.running[key] = run

    # -- running tasks
    def finish_due(self):
        t = now_ms()
        for key, r in list(self.running.items()):
            us = int((t - r["start"]) * 1000)
            if r["give_up"] is not None and t >= r["give_up"] and t < r["done_at"]:
                del self.running[key]
                self.stats["failed"] += 1
                self.report(FAIL, {"id": r["id"], "at": r["at"], "rt": True, "why": "timed out",
                                   "us": us})
            elif t >= r["done_at"]:
                del self.running[key]
                fail = r["params"].get("fail") if isinstance(r["params"], dict) else None
                if fail:
                    self.stats["failed"] += 1
                    self.report(FAIL, {"id": r["id"], "at": r["at"], "rt": True, "why": str(fail),
                                       "us": us})
                    continue
                out = {"echo": r["input"]}
                text = json.dumps(out, separators=(",", ":"), ensure_ascii=False)
                if self.bad_output == "array":
                    text = json.dumps([r["input"]])
                elif self.bad_output == "scalar":
                    text = "42"
                elif self.bad_output == "invalid":
                    text = "{\"echo\":"
                if self.misbehave and self.rng.random() < self.misbehave.get("drop", 0):
                    # never answered: the broker's lease (to + lg) takes it back
                    self.stats["dropped"] += 1
                    continue
                if self.misbehave and self.registered and \
                        self.rng.random() < self.misbehave.get("garbage", 0):
                    # a RESULT whose body is not MessagePack: dropped and counted
                    self.stats["garbage"] += 1
                    self.sock.send_multipart([b"ASY" + bytes([VERSION]), bytes([RESULT]),
                                              bytes([0x84, 0xc1]) + os.urandom(6)])
                self.stats["done"] += 1
                msg = {"id": r["id"], "at": r["at"], "out": text, "us": us}
                self.report(RESULT, msg)
                if self.misbehave and self.rng.random() < self.misbehave.get("dup", 0):
                    # the same RESULT again: stale, ignored and counted
                    self.stats["duplicated"] += 1
                    self.report(RESULT, msg)

    def next_wake(self):
        t = now_ms()
        wake = t + max(10, min(self.hb, 1000))
        for r in self.running.values():
            wake = min(wake, r["done_at"], r["give_up"] or r["done_at"])
        if self.reconnect_at:
            wake = min(wake, self.reconnect_at)
        return max(0, int(wake - t))

    def run(self):
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        self.connect()
        self.say("connecting to %s with slots %s" % (self.endpoint, self.slots))
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while True:
            t = now_ms()
            if self.stop and not self.draining:
                # §4.7: DISCONNECT first (no more TASKs), finish what runs, then leave
                self.draining = True
                self.drain_until = t + 1000 * self.drain_s
                self.report_or_send(DISCONNECT, {"why": "draining"})
                self.say("draining: %d tasks still running" % len(self.running))
            if self.draining and (not self.running or t >= self.drain_until):
                break
            try:
                events = dict(poller.poll(self.next_wake()))
            except zmq.ZMQError as e:
                if e.errno == zmq.EINTR:
                    continue
                raise
            if events.get(self.sock):
                for _ in range(10000):
                    try:
                        frames = self.sock.recv_multipart(flags=zmq.DONTWAIT)
                    except zmq.Again:
                        break
                    self.last_recv = now_ms()  # §4.4: any traffic counts
                    self.reconnect_at = 0
                    try:
                        code, msg = decode(frames)
                    except Malformed:
                        self.stats["rejected"] += 1
                        continue
                    self.on_message(code, msg)
            self.finish_due()
            t = now_ms()
            if not self.registered and not self.reconnect_at and not self.draining and \
                    t - self.last_ready >= self.ready_wait and t - self.last_recv < self.liveness * self.hb:
                # §4.3: no WELCOME yet: READY again, backing off to 30 s
                self.ready_wait = min(self.ready_wait * 2, 30000)
                self.send_ready()
            if self.reconnect_at and t >= self.reconnect_at and not self.draining:
                self.reconnect_at = 0
                self.reconnect_ms = min(self.reconnect_ms * 2, 30000)
                poller.unregister(self.sock)
                self.connect()
                poller.register(self.sock, zmq.POLLIN)
                continue
            if not self.reconnect_at and t - self.last_recv > self.liveness * self.hb and \
                    not self.draining:
                # §4.5: the broker is dead for us: reconnect after a back-off
                self.say("broker silent for %d ms: reconnecting in %d ms"
                         % (t - self.last_recv, self.reconnect_ms))
                self.reconnect_at = t + self.reconnect_ms
                self.registered = False
            if t - self.last_send >= self.hb and (self.registered or self.draining):
                self.send(HEARTBEAT, {"n": len(self.running)})
        out, self.outbox = self.outbox, []
        for c, msg in out:
            self.send(c, msg)
        # what still runs after the drain time is handed back, retryable
        for r in list(self.running.values()):
            self.report_or_send(FAIL, {"id": r["id"], "at": r["at"], "rt": True,
                                       "why": "worker is shutting down",
                                       "us": int((now_ms() - r["start"]) * 1000)})
        self.running.clear()
        self.report_or_send(DISCONNECT, {"why": "bye"})
        self.say("stopping: %s" % json.dumps(self.stats, sort_keys=True))
        self.sock.close(linger=2000 if self.registered else 0)
        self.ctx.term()
        return 0

    def report_or_send(self, code, msg):
        # while leaving, a report cannot wait for a registration: send it anyway
        # (§4.5: it counts when its attempt is still current)
        self.send(code, msg)

    def on_signal(self, signum, frame):
        self.stop = True


def read_keypair(path):
    pub = sec = None
    for line in open(path, encoding="ascii"):
        line = line.strip()
        if line.startswith("#") or "=" not in line:
            continue
        k, v = [x.strip() for x in line.split("=", 1)]
        if k == "public-key":
            pub = v.encode()
        elif k == "secret-key":
            sec = v.encode()
    if not pub or not sec:
        raise SystemExit("pyworker: key file \"%s\": expected public-key and secret-key lines" % path)
    return pub, sec


def read_public(value):
    if len(value) == 40 and not os.path.exists(value):
        return value.encode()
    for line in open(value, encoding="ascii"):
        line = line.strip()
        if line.startswith("public-key"):
            return line.split("=", 1)[1].strip().encode()
    raise SystemExit("pyworker: key file \"%s\": no public-key line" % value)


def parse_slots(spec):
    slots = {}
    for tok in spec.replace(" ", ",").split(","):
        if not tok:
            continue
        kind, _, n = tok.partition("=")
        if not kind or not n.isdigit() or int(n) < 1:
            raise SystemExit("pyworker: slots \"%s\": expected KIND=N with N >= 1" % tok)
        slots[kind] = int(n)
    if not slots:
        raise SystemExit("pyworker: slots: no task kinds given")
    return slots


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(argv[2])
    args = {"broker": os.environ.get("ASSAY_BROKER", "tcp://127.0.0.1:5555"),
            "name": "py:%d" % os.getpid(), "slots": {"noop": 4}, "hb": 1000, "drain_s": 30,
            "bad_output": None, "misbehave": None, "seed": os.getpid(),
            "key_file": os.environ.get("ASSAY_WORKER_KEY_FILE"),
            "broker_key": os.environ.get("ASSAY_WORKER_BROKER_PUBLIC_KEY")}
    i = 1
    while i < len(argv):
        a = argv[i]
        if i + 1 >= len(argv):
            raise SystemExit("pyworker: option %s needs a value" % a)
        v = argv[i + 1]
        i += 2
        if a == "--broker":
            args["broker"] = v
        elif a == "--name":
            args["name"] = v
        elif a == "--slots":
            args["slots"] = parse_slots(v)
        elif a == "--hb":
            args["hb"] = int(v)
        elif a == "--drain-s":
            args["drain_s"] = float(v)
        elif a == "--bad-output":
            if v not in ("array", "scalar", "invalid"):
                raise SystemExit("pyworker: --bad-output: expected array, scalar or invalid")
            args["bad_output"] = v
        elif a == "--misbehave":
            mis = {}
            for tok in v.split(","):
                k, _, p = tok.partition("=")
                try:
                    mis[k] = float(p)
                except ValueError:
                    mis[k] = -1
                if k not in ("drop", "dup", "garbage") or not 0 <= mis[k] <= 1:
                    raise SystemExit("pyworker: --misbehave \"%s\": expected drop=P, dup=P or "
                                     "garbage=P with P from 0 to 1" % tok)
            args["misbehave"] = mis
        elif a == "--seed":
            args["seed"] = int(v)
        elif a == "--key-file":
            args["key_file"] = v
        elif a == "--broker-key":
            args["broker_key"] = v
        elif a == "--curve" and v == "off":
            args["key_file"] = None
        else:
            raise SystemExit("pyworker: unknown option \"%s\"" % a)
    if os.environ.get("ASSAY_CURVE", "").lower() in ("off", "false", "0", "no"):
        args["key_file"] = None
    if args["key_file"] and not args["broker_key"]:
        raise SystemExit("pyworker: a key file needs --broker-key")
    return Worker(args).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
