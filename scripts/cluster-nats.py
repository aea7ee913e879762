"""JetStream steps of scripts/cluster-check, with the pinned nats-py from the cluster's venv.

    cluster-nats.py URLS setup N          (re)create the R3 stream, publish N messages, read each back
    cluster-nats.py URLS leader           print the stream leader's server name
    cluster-nats.py URLS publish-until T0_MS SECONDS
                                          publish until one is acknowledged; print the milliseconds
                                          since T0_MS (epoch ms) when it was
    cluster-nats.py URLS verify N         every message published so far is still in the stream
    cluster-nats.py URLS wait-current SECONDS
                                          wait until the stream has a leader and 2 current replicas
    cluster-nats.py URLS wait-leader SECONDS OLD
                                          wait until the stream has a leader other than OLD
    cluster-nats.py URLS delete           delete the stream if it exists

The stream is CLUSTER_CHECK, or $CLUSTER_NATS_STREAM (scripts/cluster-fault and scripts/cluster-cotalk
name cotalk's event stream with it).

URLS is comma-separated (every seed). Every step is bounded in time; a failed step exits 1.
"""

import asyncio
import os
import sys
import time

import nats
from nats.js.api import StorageType, StreamConfig

STREAM = os.environ.get("CLUSTER_NATS_STREAM", "CLUSTER_CHECK")
SUBJECT = "cluster.check"


async def connect(urls):
    return await nats.connect(
        servers=urls.split(","),
        connect_timeout=2,
        reconnect_time_wait=0.2,
        max_reconnect_attempts=-1,
    )


async def setup(js, n):
    try:
        await js.delete_stream(STREAM)
    except nats.js.errors.NotFoundError:
        pass
    await js.add_stream(
        StreamConfig(name=STREAM, subjects=[SUBJECT + ".>"], num_replicas=3, storage=StorageType.FILE)
    )
    for i in range(1, n + 1):
        ack = await js.publish(f"{SUBJECT}.{i}", f"message {i}".encode(), timeout=5)
        assert ack.seq == i, f"sequence {ack.seq} for message {i}"
    await verify(js, n)
    info = await js.stream_info(STREAM)
    print(f"stream {STREAM}: {info.state.messages} messages, replicas=3, leader={info.cluster.leader}")


async def verify(js, n):
    for i in range(1, n + 1):
        msg = await js.get_msg(STREAM, seq=i)
        assert msg.data == f"message {i}".encode(), f"message {i} reads {msg.data!r}"


async def publish_until(js, t0_ms, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            ack = await js.publish(f"{SUBJECT}.after", b"after the fault", timeout=1)
            print(f"{int(time.time() * 1000) - t0_ms} seq={ack.seq}")
            return
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            await asyncio.sleep(0.1)
    raise SystemExit(f"no publish acknowledged within {seconds}s")


async def wait_current(js, seconds):
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            info = await js.stream_info(STREAM)
            replicas = info.cluster.replicas or []
            last = f"leader={info.cluster.leader} replicas={[(r.name, r.current, r.offline) for r in replicas]}"
            if info.cluster.leader and len(replicas) == 2 and all(r.current and not r.offline for r in replicas):
                print(last)
                return
        except Exception as e:  # noqa: BLE001
            last = repr(e)
        await asyncio.sleep(0.3)
    raise SystemExit(f"stream replicas not current within {seconds}s: {last}")


async def wait_leader(js, seconds, old):
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            leader = (await js.stream_info(STREAM)).cluster.leader
            if leader and leader != old:
                print(leader)
                return
            last = f"leader={leader}"
        except Exception as e:  # noqa: BLE001
            last = repr(e)
        await asyncio.sleep(0.1)
    raise SystemExit(f"no new stream leader within {seconds}s: {last}")


async def main(argv):
    urls, cmd, args = argv[1], argv[2], argv[3:]
    nc = await connect(urls)
    try:
        js = nc.jetstream(timeout=3)
        if cmd == "setup":
            await setup(js, int(args[0]))
        elif cmd == "leader":
            print((await js.stream_info(STREAM)).cluster.leader)
        elif cmd == "publish-until":
            await publish_until(js, int(args[0]), float(args[1]))
        elif cmd == "verify":
            await verify(js, int(args[0]))
        elif cmd == "wait-current":
            await wait_current(js, float(args[0]))
        elif cmd == "wait-leader":
            await wait_leader(js, float(args[0]), args[1])
        elif cmd == "delete":
            try:
                await js.delete_stream(STREAM)
                print(f"deleted {STREAM}")
            except nats.js.errors.NotFoundError:
                pass
        else:
            raise SystemExit(f"unknown step {cmd}")
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv), timeout=120))
