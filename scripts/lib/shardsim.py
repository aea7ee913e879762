"""The shard function of ARCHITECTURE.md ("Scaling past one primary"), a
generated chat workload, and the balance, directory and growth reports of
scripts/shard-sim. Standard library only; deterministic for a seed."""

import hashlib
import math
import random
import uuid

# ---------------------------------------------------------------------------
# The shard function. Fixed forever: changing any of it re-homes every room.
# ---------------------------------------------------------------------------

KEY_PREFIX = b"cotalk/shard/v1"
JUMP_MULTIPLIER = 2862933555777941757
MASK64 = (1 << 64) - 1
POSITION_BITS = 44  # packed position = shard << 44 | local position
SHARD_BITS = 53 - POSITION_BITS  # packed positions stay JavaScript-safe integers


def room_key(room_id: bytes) -> int:
    """The room's 64-bit placement key: BLAKE2b with an 8-byte digest over
    KEY_PREFIX followed by the room id's 16 bytes, read little-endian. Room ids
    are UUIDv7 (time first) or UUIDv5: never used as keys unhashed."""
    digest = hashlib.blake2b(KEY_PREFIX + room_id, digest_size=8).digest()
    return int.from_bytes(digest, "little")


def jump(key: int, buckets: int, _mul=JUMP_MULTIPLIER, _mask=MASK64, _top=float(1 << 31)) -> int:
    """Jump consistent hash (Lamping and Veach, 2014): the bucket in
    [0, buckets) of a 64-bit key. Each step draws the next bucket the key
    would jump to as the bucket count grows; the answer is the last one below
    `buckets`. Double arithmetic as in the paper, so every language agrees
    (the divisor, below 2^31 + 2, converts to a double exactly). The
    constants are bound as defaults because the sim calls this millions of
    times."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _mul + 1) & _mask
        j = int((b + 1) * (_top / ((key >> 33) + 1)))
    return b


def shard_of(room_id: bytes, bucket_map: list, directory: dict) -> int:
    """Where a room lives: its directory row if it has one (a moved room),
    else the shard its jump bucket maps to."""
    moved = directory.get(room_id)
    if moved is not None:
        return moved
    return bucket_map[jump(room_key(room_id), len(bucket_map))]


def pack(shard: int, local: int) -> int:
    """A packed position: what `position`, X-Position and X-Min-Position carry."""
    assert 0 <= shard < 1 << SHARD_BITS and 0 <= local < 1 << POSITION_BITS
    return shard << POSITION_BITS | local


# ---------------------------------------------------------------------------
# The workload.
# ---------------------------------------------------------------------------


class Workload:
    """Rooms with random ids; the first `hot` are very hot and large, the rest
    get Zipf activity by rank (room r after the hot ones weighs 1/r^s) and
    power-law membership (a share of them 1:1 rooms). Posts are drawn one by
    one from those weights (the replay)."""

    def __init__(self, args, online_fraction):
        rng = random.Random(args.seed)
        n = args.rooms
        self.ids = [rng.getrandbits(128).to_bytes(16, "big") for _ in range(n)]
        self.keys = [room_key(i) for i in self.ids]
        members = []
        for r in range(n):
            if r < args.hot:
                members.append(args.hot_members)
            elif rng.random() < args.direct_share:
                members.append(2)
            else:
                members.append(min(3 + int(3 * (rng.paretovariate(1.3) - 1)), args.max_members))
        posts = [0] * n
        hot_posts = int(args.posts * args.hot_share)
        for r in range(args.hot):
            posts[r] = hot_posts
        cum, total = [], 0.0
        for rank in range(1, n - args.hot + 1):
            total += rank ** -args.zipf
            cum.append(total)
        for r in rng.choices(range(args.hot, n), cum_weights=cum, k=args.posts - hot_posts * args.hot):
            posts[r] += 1
        self.members = members
        self.posts = posts
        self.total_posts = args.posts
        self.online_fraction = online_fraction
        self.frames_per_post = sum(p * m * online_fraction for p, m in zip(posts, members)) / args.posts
        self.by_posts = sorted(range(n), key=lambda r: (-posts[r], r))
        self._buckets = {}

    def placement(self, shards):
        """Each room's shard with `shards` shards, bucket map = identity, no
        directory rows: `shard_of` with the key computed once (cached: this
        is the slow part)."""
        if shards not in self._buckets:
            self._buckets[shards] = [jump(k, shards) for k in self.keys]
        return self._buckets[shards]


def loads(work, placement, shards):
    """Posts, rooms and members per shard."""
    posts, rooms, members = [0] * shards, [0] * shards, [0] * shards
    for r, s in enumerate(placement):
        posts[s] += work.posts[r]
        rooms[s] += 1
        members[s] += work.members[r]
    return posts, rooms, members


def ratio(values):
    """max / mean."""
    mean = sum(values) / len(values)
    return max(values) / mean if mean else 0.0


def cv(values):
    """Coefficient of variation."""
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) / mean if mean else 0.0


def fmt(n):
    """Thousands with a space, as the docs write them."""
    return f"{n:,.0f}".replace(",", " ")


def table(header, rows):
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Directory moves.
# ---------------------------------------------------------------------------


def rebalance(work, placement, shards, moves, skip=(), posts=None):
    """Greedy, up to `moves` directory rows: take the fullest shard and the
    emptiest; of the fullest shard's candidate rooms (the busiest tenth of all
    rooms, but those in `skip`, each moved at most once) move the one whose
    posts come closest to half the two shards' difference, if one is below
    it; stop when none is. Returns the loads after and the rows
    {room index: shard}."""
    if posts is None:
        posts, _, _ = loads(work, placement, shards)
    skip = set(skip)
    on = [[] for _ in range(shards)]
    for r in work.by_posts[: len(work.by_posts) // 10]:
        if r not in skip:
            on[placement[r]].append(r)
    directory = {}
    while len(directory) < moves:
        src = max(range(shards), key=lambda s: (posts[s], -s))
        dst = min(range(shards), key=lambda s: (posts[s], s))
        gap = posts[src] - posts[dst]
        fits = [r for r in on[src] if 0 < work.posts[r] < gap]
        if not fits:
            break
        r = min(fits, key=lambda r: (abs(2 * work.posts[r] - gap), r))
        on[src].remove(r)
        posts[src] -= work.posts[r]
        posts[dst] += work.posts[r]
        directory[r] = dst
    return posts, directory


def dedicate(work, placement, shards, threshold):
    """Rooms with more posts than `threshold` × the mean shard get a shard of
    their own (directory rows onto shards outside the bucket map). Returns
    the hashed shards' loads without them, and those rooms."""
    posts, _, _ = loads(work, placement, shards)
    mean = sum(posts) / shards
    hot = [r for r in work.by_posts[: 4 * shards] if work.posts[r] > threshold * mean]
    for r in hot:
        posts[placement[r]] -= work.posts[r]
    return posts, hot


# ---------------------------------------------------------------------------
# Report sections.
# ---------------------------------------------------------------------------


def section_workload(work, args):
    print("## workload\n")
    total_members = sum(work.members)
    top = sum(work.posts[r] for r in work.by_posts[:100])
    share = lambda p: f"{100 * p / work.total_posts:.2f}%"  # noqa: E731
    rows = [
        ["rooms", fmt(len(work.ids))],
        ["rooms with at least one post", fmt(sum(1 for p in work.posts if p))],
        ["posts", fmt(work.total_posts)],
        ["memberships (room-list entries)", fmt(total_members)],
        ["members per room: mean / max", f"{total_members / len(work.ids):.1f} / {fmt(max(work.members))}"],
        [f"hot rooms ({args.hot}): posts each, share, members",
         f"{fmt(work.posts[0])}, {share(work.posts[0])}, {fmt(args.hot_members)}"],
        ["busiest ordinary room (Zipf rank 1): posts, share",
         f"{fmt(work.posts[args.hot])}, {share(work.posts[args.hot])}"],
        ["top 100 rooms' share of posts", share(top)],
        [f"frames per post (post-weighted members × {work.online_fraction} online)",
         f"{work.frames_per_post:.1f}"],
    ]
    print(table(["", "value"], rows))
    print()


def section_balance(work, args):
    print("## balance: jump hash of the room key, no directory rows\n")
    rows = []
    for shards in args.shards:
        placement = work.placement(shards)
        posts, rooms, members = loads(work, placement, shards)
        hottest = work.by_posts[0]
        mean = sum(posts) / shards
        rows.append([
            shards, f"{ratio(posts):.3f}", f"{min(posts) / mean:.3f}", f"{cv(posts):.3f}",
            f"{ratio(rooms):.3f}", f"{ratio(members):.3f}",
            f"{100 * work.posts[hottest] / posts[placement[hottest]]:.1f}%",
            f"{work.posts[hottest] / mean:.2f}",
        ])
    print(table(["shards", "posts max/mean", "posts min/mean", "posts CV", "rooms max/mean",
                 "members max/mean", "hottest room's share of its shard",
                 "hottest room ÷ mean shard"], rows))
    shards = args.shards[0]
    posts, rooms, members = loads(work, work.placement(shards), shards)
    print(f"\nper shard at {shards} shards:\n")
    print(table(["shard", "posts", "rooms", "members"],
                [[s, fmt(posts[s]), fmt(rooms[s]), fmt(members[s])] for s in range(shards)]))
    print()


def section_directory(work, args):
    print(f"## directory: moving the hottest rooms (greedy, at most {args.moves} or 4 × shards rows; "
          f"rooms above {args.dedicated}× the mean shard on shards of their own)\n")
    rows = []
    for i, shards in enumerate(args.shards):
        placement = work.placement(shards)
        before, _, _ = loads(work, placement, shards)
        few, few_rows = rebalance(work, placement, shards, args.moves)
        many, many_rows = rebalance(work, placement, shards, 4 * shards)
        hashed, hot = dedicate(work, placement, shards, args.dedicated)
        both, both_rows = rebalance(work, placement, shards, 4 * shards, hot, hashed[:])
        if i == 0:
            # The loads the greedy counted are the ones shard_of gives with
            # its directory rows: the function of the design, room by room.
            directory = {work.ids[r]: s for r, s in many_rows.items()}
            check = [0] * shards
            for r, rid in enumerate(work.ids):
                check[shard_of(rid, list(range(shards)), directory)] += work.posts[r]
            assert check == many, "directory placement differs from the greedy's count"
        rows.append([
            shards, f"{ratio(before):.3f}",
            f"{ratio(few):.3f} ({len(few_rows)})",
            f"{ratio(many):.3f} ({len(many_rows)})",
            f"{len(hot)}: {ratio(hashed):.3f}",
            f"{ratio(both):.3f} ({len(both_rows) + len(hot)})",
        ])
    print(table(["shards", "posts max/mean before", f"greedy, ≤ {args.moves} rows",
                 "greedy, ≤ 4 × shards rows", "own shards: rooms, hashed max/mean",
                 "own shards + greedy (rows)"], rows))
    print()


def section_grow(work, args):
    print("## grow: adding one shard (jump hash vs. key mod n)\n")
    rows = []
    n = len(work.keys)
    for shards in args.shards:
        old, new = work.placement(shards), work.placement(shards + 1)
        moved = [r for r in range(n) if old[r] != new[r]]
        assert all(new[r] == shards for r in moved), "a room moved between old shards"
        mod_moved = sum(1 for k in work.keys if k % shards != k % (shards + 1))
        rows.append([
            f"{shards} → {shards + 1}", fmt(len(moved)), f"{100 * len(moved) / n:.2f}%",
            f"{100 / (shards + 1):.2f}%",
            f"{100 * sum(work.posts[r] for r in moved) / work.total_posts:.2f}%",
            "all to the new shard", f"{100 * mod_moved / n:.2f}%",
        ])
    print(table(["shards", "rooms moved", "share", "ideal 1/(n+1)", "history moved (posts)",
                 "where", "key mod n would move"], rows))
    print()


def section_vectors(_work, _args):
    print("## test vectors of the shard function\n")
    rows = []
    for text in ["00000000-0000-0000-0000-000000000000", "0192f1c4-7a2e-7c31-9d55-3f0b8e2a1c44",
                 "ffffffff-ffff-ffff-ffff-ffffffffffff"]:
        key = room_key(uuid.UUID(text).bytes)
        rows.append([text, f"{key:016x}"] + [jump(key, n) for n in (1, 4, 16, 64, 65)])
    print(table(["room id", "key (hex)", "n=1", "n=4", "n=16", "n=64", "n=65"], rows))
    # An example published with implementations of the algorithm.
    assert jump(256, 1024) == 520
    print("\njump(256, 1024) = 520, as published with implementations of the algorithm")
    print(f"packed position of shard 3, local 1234: {pack(3, 1234)}; the largest: "
          f"{pack((1 << SHARD_BITS) - 1, (1 << POSITION_BITS) - 1)} (2^53 − 1)")
    print()
