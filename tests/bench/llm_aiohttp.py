"""llm_aiohttp.py: the reference client for tests/bench/llm_bench.sh.

The same work as llm_drive (C chat-completion requests in flight on one asyncio
event loop until N completed, every response parsed), written the way a Python
pipeline would: aiohttp with one pooled session. Prints

    aiohttp: ok=N failed=F seconds=S req_per_s=R cpu_ms_per_req=C max_rss_mb=M

usage: /usr/bin/python3 llm_aiohttp.py BASE_URL [CONCURRENCY] [REQUESTS] [MODEL]
"""
import asyncio
import json
import resource
import sys
import time

import aiohttp


async def one(session, url, model, i, stats):
    user = ("请回答下面的医学选择题。\n\n<question>第%d题：夜间阵发性呼吸困难，可见于</question>\n\n"
            "选项：\nA. 急性脑血管疾病\nB. 癔病\nC. 急性感染所致的毒血症\n"
            "D. 慢性阻塞性肺气肿\nE. 左心功能不全\n\n最后一行只写“答案：X”。") % (i % 1000)
    body = {"model": model, "seed": i,
            "messages": [{"role": "system", "content": "你是一名经验丰富的临床医生。"},
                         {"role": "user", "content": user}]}
    try:
        async with session.post(url, data=json.dumps(body, ensure_ascii=False).encode(),
                                headers={"Content-Type": "application/json"}) as resp:
            raw = await resp.read()
            if resp.status != 200:
                stats["failed"] += 1
                return
            doc = json.loads(raw)
            msg = doc["choices"][0]["message"]
            stats["reasoning_chars"] += len(msg.get("reasoning_content") or "")
            stats["ok"] += 1
    except Exception as e:  # counted, the benchmark goes on
        stats["failed"] += 1
        stats["last_error"] = repr(e)


async def main():
    base = sys.argv[1].rstrip("/")
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    total = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    model = sys.argv[4] if len(sys.argv) > 4 else "sim-r1"
    url = base + "/chat/completions"
    stats = {"ok": 0, "failed": 0, "reasoning_chars": 0, "last_error": ""}
    connector = aiohttp.TCPConnector(limit=conc)
    timeout = aiohttp.ClientTimeout(total=600)
    t0 = time.monotonic()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        next_i = 0

        async def worker():
            nonlocal next_i
            while next_i < total:
                i = next_i
                next_i += 1
                await one(session, url, model, i, stats)

        await asyncio.gather(*(worker() for _ in range(conc)))
    secs = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ms = (ru.ru_utime + ru.ru_stime) * 1000.0
    done = stats["ok"] + stats["failed"]
    print("aiohttp: ok=%d failed=%d seconds=%.2f req_per_s=%.1f cpu_ms_per_req=%.3f max_rss_mb=%.1f"
          % (stats["ok"], stats["failed"], secs, stats["ok"] / secs, cpu_ms / max(done, 1),
             ru.ru_maxrss / 1024.0))
    if stats["failed"]:
        print("aiohttp: last error: " + stats["last_error"], file=sys.stderr)
    return 1 if stats["failed"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
