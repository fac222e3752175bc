#!/usr/bin/env python3
"""Turns recordings of real guest traffic into fuzz seeds.

A recording (tests/e2e/run-guest.py --record DIR) is every byte a Linux
guest's v9fs client sent on one connection: 9P frames, size[4] type[1]
tag[2] body, back to back.  From it this writes

  --decode DIR  seeds for fuzz-decode: one frame per file, one per kind of
                frame (its type and the shape of its body), Twrite data cut
                to DECODE_MAX_DATA bytes;
  --server DIR  seeds for fuzz-server: windows of WINDOW consecutive frames,
                each a file in the input format of fuzz-server.h.

A window out of the middle of a session refers to fids the guest made
earlier, which a fresh connection does not have, and to files the guest
created earlier, which the fuzzer's export does not have.  So each window
starts with what it needs, as the guest itself got there: the guest's own
Tversion and Tattach (the input is in FUZZ_MODE_NO_SESSION), then for every
fid the window uses before defining it, the files and directories on its
path that the guest created (Tmkdir, Tlcreate, Tsymlink, Tmknod through a
scratch fid), a Twalk from its attach fid along its path and, if it was
open, a Tlopen.  The converter follows the guest's fids and names without
seeing the replies: it assumes that every request succeeded.

Barriers (fuzz-server.h) go where the guest must have waited for a reply:
before a frame that reuses a tag sent since the last barrier, and before a
frame that uses a fid a frame since the last barrier defined or opened.
Payloads longer than a chunk can carry (4095 bytes) are Twrites: their data
becomes the harness's padding, the largest size that is a power of two and
no larger than the guest's count.  Windows with the same sequence of frame
shapes are written once.

Usage: seeds-from-recording.py [--decode DIR] [--server DIR] RECORDING...
"""
import argparse
import hashlib
import os
import struct
import sys

WINDOW = 24            # frames of guest traffic per fuzz-server seed
STRIDE = 12            # first frames of two windows this far apart
DECODE_MAX_DATA = 64   # Twrite data kept in a fuzz-decode seed
CHUNK_MAX = 0x0FFF     # payload bytes one chunk header can carry

# fuzz-server.h
FUZZ_MODE_NO_SESSION = 0x01
FUZZ_BARRIER = b"\x00\x00"

# The guest attaches with its own aname (the empty one: fuzz-server's first
# export, passthrough); each window is also sent to the other exports.
EXPORTS = (None, b"mapped", b"ro", b"squash")
NOTAG = 0xFFFF
SCRATCH_FID = 0xFFFFFF00  # the fid that creates what a window needs
SETUP_TAG = 1

# Message types (proto/9p.h).
TSTATFS, TLOPEN, TLCREATE, TSYMLINK, TMKNOD, TRENAME, TREADLINK = 8, 12, 14, 16, 18, 20, 22
TGETATTR, TSETATTR, TXATTRWALK, TXATTRCREATE, TREADDIR = 24, 26, 30, 32, 40
TFSYNC, TLOCK, TGETLOCK, TLINK, TMKDIR, TRENAMEAT, TUNLINKAT = 50, 52, 54, 70, 72, 74, 76
TVERSION, TAUTH, TATTACH, TFLUSH, TWALK = 100, 102, 104, 108, 110
TREAD, TWRITE, TCLUNK, TREMOVE = 116, 118, 120, 122
NAMES = {
    TSTATFS: "tstatfs", TLOPEN: "tlopen", TLCREATE: "tlcreate", TSYMLINK: "tsymlink",
    TMKNOD: "tmknod", TRENAME: "trename", TREADLINK: "treadlink", TGETATTR: "tgetattr",
    TSETATTR: "tsetattr", TXATTRWALK: "txattrwalk", TXATTRCREATE: "txattrcreate",
    TREADDIR: "treaddir", TFSYNC: "tfsync", TLOCK: "tlock", TGETLOCK: "tgetlock",
    TLINK: "tlink", TMKDIR: "tmkdir", TRENAMEAT: "trenameat", TUNLINKAT: "tunlinkat",
    TVERSION: "tversion", TAUTH: "tauth", TATTACH: "tattach", TFLUSH: "tflush",
    TWALK: "twalk", TREAD: "tread", TWRITE: "twrite", TCLUNK: "tclunk", TREMOVE: "tremove",
}
# Messages whose body starts with the one fid they use.
FID_FIRST = {TSTATFS, TLOPEN, TREADLINK, TGETATTR, TSETATTR, TREADDIR, TFSYNC, TLOCK,
             TGETLOCK, TREAD, TWRITE, TCLUNK, TREMOVE, TXATTRCREATE}
O_CREAT, O_EXCL, O_TRUNC = 0o100, 0o200, 0o1000  # Linux values, as 9P2000.L sends them


# ---- frames ----

class Frame:
    """One T-message: its bytes and the fields the converter follows."""

    def __init__(self, raw):
        self.raw = raw
        self.type = raw[4]
        self.tag = struct.unpack_from("<H", raw, 5)[0]
        self.uses = []      # fids it needs to exist
        self.defines = []   # fids it creates or replaces
        self.ok = True
        try:
            self._parse(raw[7:])
        except (struct.error, IndexError, UnicodeDecodeError):
            self.ok = False

    def _parse(self, b):
        t = self.type
        u32 = lambda off: struct.unpack_from("<I", b, off)[0]

        def string(off):
            n = struct.unpack_from("<H", b, off)[0]
            if off + 2 + n > len(b):
                raise IndexError
            return b[off + 2:off + 2 + n], off + 2 + n

        if t == TATTACH:
            self.fid = u32(0)
            self.defines = [self.fid]
        elif t == TWALK:
            self.fid, self.newfid = u32(0), u32(4)
            n = struct.unpack_from("<H", b, 8)[0]
            off, self.names = 10, []
            for _ in range(n):
                name, off = string(off)
                self.names.append(name)
            self.uses, self.defines = [self.fid], [self.newfid]
        elif t == TXATTRWALK:
            self.fid, self.newfid = u32(0), u32(4)
            self.uses, self.defines = [self.fid], [self.newfid]
        elif t == TLCREATE:
            self.fid = u32(0)
            self.name, off = string(4)
            self.flags, self.mode, self.gid = struct.unpack_from("<III", b, off)
            self.uses, self.defines = [self.fid], [self.fid]
        elif t == TSYMLINK:
            self.fid = u32(0)
            self.name, off = string(4)
            self.target, off = string(off)
            self.uses = [self.fid]
        elif t == TMKNOD:
            self.fid = u32(0)
            self.name, off = string(4)
            self.uses = [self.fid]
        elif t == TMKDIR:
            self.fid = u32(0)
            self.name, off = string(4)
            self.mode, self.gid = struct.unpack_from("<II", b, off)
            self.uses = [self.fid]
        elif t == TRENAME:
            self.fid, self.dfid = u32(0), u32(4)
            self.name, _ = string(8)
            self.uses = [self.fid, self.dfid]
        elif t == TLINK:
            self.dfid, self.fid = u32(0), u32(4)
            self.name, _ = string(8)
            self.uses = [self.dfid, self.fid]
        elif t == TRENAMEAT:
            self.fid = u32(0)
            self.name, off = string(4)
            self.dfid = u32(off)
            self.newname, _ = string(off + 4)
            self.uses = [self.fid, self.dfid]
        elif t == TUNLINKAT:
            self.fid = u32(0)
            self.name, _ = string(4)
            self.uses = [self.fid]
        elif t == TLOPEN:
            self.fid, self.flags = u32(0), u32(4)
            self.uses = [self.fid]
        elif t in FID_FIRST:
            self.fid = u32(0)
            self.uses = [self.fid]

    def shape(self):
        """What tells two frames apart for the decoder: type and size class,
        and for walks the number of names."""
        n = len(self.raw)
        size = n if n <= 64 else 64 + n.bit_length()
        return (self.type, size, len(getattr(self, "names", ())))

    def server_shape(self):
        """What tells two frames apart for the server: their shape and the
        field that picks what the operation does (open flags, getattr
        mask, setattr valid bits, lock type and flags, unlinkat flags)."""
        b, offs = self.raw[7:], {TLOPEN: 4, TGETATTR: 4, TSETATTR: 4, TLOCK: 4, TGETLOCK: 4}
        if self.type in offs and len(b) >= offs[self.type] + 4:
            return self.shape() + (b[offs[self.type]:offs[self.type] + 5],)
        if self.type in (TLCREATE, TUNLINKAT) and self.ok:
            return self.shape() + (b[6 + len(self.name):10 + len(self.name)],)
        return self.shape()


def read_frames(path):
    data = open(path, "rb").read()
    frames, off = [], 0
    while off + 7 <= len(data):
        size = struct.unpack_from("<I", data, off)[0]
        if size < 7 or off + size > len(data):
            break  # the guest was killed mid-frame
        frames.append(Frame(data[off:off + size]))
        off += size
    return frames


# ---- encoding synthetic requests ----

def s9(b):
    return struct.pack("<H", len(b)) + b


def frame(type_, tag, body):
    return struct.pack("<IBH", 7 + len(body), type_, tag) + body


def twalk(fid, newfid, names):
    return frame(TWALK, SETUP_TAG, struct.pack("<IIH", fid, newfid, len(names)) +
                 b"".join(s9(n) for n in names))


def tclunk(fid):
    return frame(TCLUNK, SETUP_TAG, struct.pack("<I", fid))


def tlopen(fid, flags):
    return frame(TLOPEN, SETUP_TAG, struct.pack("<II", fid, flags))


# ---- the guest's fids and names, followed without the replies ----

class Fid:
    def __init__(self, attach, path, open_flags=None, xattr=False):
        self.attach = attach          # the Tattach frame it descends from
        self.path = path              # names from the attach root
        self.open_flags = open_flags  # Tlopen/Tlcreate flags once open
        self.xattr = xattr


def walk_path(path, names):
    p = list(path)
    for n in names:
        if n == b"..":
            if p:
                p.pop()
        elif n not in (b"", b"."):
            p.append(n)
    return tuple(p)


class Session:
    """The state of the guest's session just before a given frame."""

    def __init__(self):
        self.version = None
        self.attaches = []
        self.fids = {}
        self.created = {}  # path -> (attach, request that made it, parent path)

    def snapshot(self):
        s = Session()
        s.version, s.attaches = self.version, list(self.attaches)
        s.fids, s.created = dict(self.fids), dict(self.created)
        return s

    def forget(self, path):
        for p in [p for p in self.created if p[:len(path)] == path]:
            del self.created[p]

    def move(self, old, new):
        for p in [p for p in self.created if p[:len(old)] == old]:
            self.created[new + p[len(old):]] = self.created.pop(p)

    def apply(self, f):
        if not f.ok:
            return
        t, fids = f.type, self.fids
        if t == TVERSION:
            self.version, self.attaches, self.fids, self.created = f, [], {}, {}
        elif t == TATTACH:
            self.attaches.append(f)
            fids[f.fid] = Fid(f, ())
        elif t == TWALK and f.fid in fids:
            src = fids[f.fid]
            fids[f.newfid] = Fid(src.attach, walk_path(src.path, f.names))
        elif t == TXATTRWALK and f.fid in fids:
            fids[f.newfid] = Fid(fids[f.fid].attach, fids[f.fid].path, xattr=True)
        elif t in (TCLUNK, TREMOVE):
            if t == TREMOVE and f.fid in fids:
                self.forget(fids[f.fid].path)
            fids.pop(f.fid, None)
        elif t == TLOPEN and f.fid in fids:
            fids[f.fid].open_flags = f.flags
        elif t == TXATTRCREATE and f.fid in fids:
            fids[f.fid].xattr = True
        elif t in (TLCREATE, TMKDIR, TSYMLINK, TMKNOD) and f.fid in fids:
            d = fids[f.fid]
            path = d.path + (f.name,)
            self.created[path] = (d.attach, f, d.path)
            if t == TLCREATE:
                fids[f.fid] = Fid(d.attach, path, open_flags=f.flags)
        elif t == TUNLINKAT and f.fid in fids:
            self.forget(fids[f.fid].path + (f.name,))
        elif t == TRENAMEAT and f.fid in fids and f.dfid in fids:
            self.move(fids[f.fid].path + (f.name,), fids[f.dfid].path + (f.newname,))
        elif t == TRENAME and f.fid in fids and f.dfid in fids:
            new = fids[f.dfid].path + (f.name,)
            self.move(fids[f.fid].path, new)
            fids[f.fid].path = new


# ---- fuzz-server inputs ----

class Seed:
    """A fuzz-server input being written: chunks and barriers."""

    def __init__(self):
        self.out = bytearray([FUZZ_MODE_NO_SESSION])
        self.shapes = []
        self.waits = True  # nothing sent since the last barrier

    def barrier(self):
        if not self.waits:
            self.out += FUZZ_BARRIER
            self.waits = True

    def chunk(self, raw):
        payload, nibble = raw[4:], 0
        if len(payload) > CHUNK_MAX and raw[4] == TWRITE:
            # The data becomes padding: FUZZ_PAD_BYTES(nibble) = 16 << nibble.
            count = struct.unpack_from("<I", raw, 7 + 12)[0]
            nibble = min(15, max(1, count.bit_length() - 5))
            payload = payload[:3 + 12] + struct.pack("<I", 16 << nibble)
        payload = payload[:CHUNK_MAX]
        self.out += struct.pack("<H", len(payload) | nibble << 12) + payload
        self.waits = False

    def add(self, f):
        """A frame of the window."""
        self.chunk(f.raw)
        self.shapes.append(f.server_shape())

    def setup(self, raw):
        """A request the window needs done before it starts."""
        self.chunk(raw)
        self.barrier()
        self.shapes.append(raw[4])


def materialize(seed, state, fid, made):
    """Writes the requests that make fid what it was at the window's start:
    the guest's creations on its path, a walk from its attach fid, an open."""
    f = state.fids[fid]
    for k in range(1, len(f.path) + 1):
        path = f.path[:k]
        if path in made or path not in state.created:
            continue
        made.add(path)
        attach, req, parent = state.created[path]
        body = bytearray(req.raw[7:])
        struct.pack_into("<I", body, 0, SCRATCH_FID)
        if req.type == TLCREATE:  # make the file, not open it over an old one
            off = 4 + 2 + len(req.name)
            struct.pack_into("<I", body, off, req.flags & ~(O_TRUNC | O_EXCL))
        seed.setup(twalk(attach.fid, SCRATCH_FID, list(parent)[:16]))
        seed.setup(frame(req.type, SETUP_TAG, bytes(body)))
        seed.setup(tclunk(SCRATCH_FID))
    names = list(f.path)
    seed.setup(twalk(f.attach.fid, fid, names[:16]))
    for i in range(16, len(names), 16):
        seed.setup(twalk(fid, fid, names[i:i + 16]))
    if f.open_flags is not None:
        seed.setup(tlopen(fid, f.open_flags & ~(O_CREAT | O_EXCL | O_TRUNC)))


def with_aname(attach, aname):
    """The guest's Tattach with another aname (an export of fuzz-server)."""
    b = attach.raw[7:]
    ulen = struct.unpack_from("<H", b, 8)[0]
    alen = struct.unpack_from("<H", b, 10 + ulen)[0]
    body = b[:10 + ulen] + s9(aname) + b[12 + ulen + alen:]
    return frame(TATTACH, attach.tag, body)


def window_seed(frames, start, end, state, aname):
    seed = Seed()
    if state.version:
        seed.setup(state.version.raw)
    for a in state.attaches:
        seed.setup(with_aname(a, aname) if aname is not None else a.raw)
    # The fids the window uses before it defines them, in order of use.
    needed, defined = [], set()
    for f in frames[start:end]:
        for fid in f.uses:
            if fid not in defined and fid not in needed:
                needed.append(fid)
        defined.update(f.defines)
        if f.type == TVERSION:
            break
    made, attach_fids = set(), {a.fid for a in state.attaches}
    for fid in needed:
        if fid in state.fids and fid not in attach_fids and not state.fids[fid].xattr:
            materialize(seed, state, fid, made)
    # The window itself, with barriers where the guest waited.
    tags, changed = set(), set()
    for f in frames[start:end]:
        if f.tag in tags or changed.intersection(f.uses) or f.type == TVERSION:
            seed.barrier()
            tags, changed = set(), set()
        seed.add(f)
        tags.add(f.tag)
        changed.update(f.defines)
        if f.type in (TLOPEN, TLCREATE, TXATTRCREATE):
            changed.update(f.uses)
    return seed


def server_seeds(frames):
    """Yields (first frame, export, seed) for each window of the recording
    and each export of fuzz-server it is sent to."""
    state = Session()
    for i, f in enumerate(frames):
        if i % STRIDE == 0 and i < max(1, len(frames) - STRIDE):
            snap = state.snapshot()
            for aname in EXPORTS:
                yield i, aname, window_seed(frames, i, min(i + WINDOW, len(frames)), snap, aname)
        state.apply(f)


# ---- fuzz-decode inputs ----

def decode_seed(f):
    """The frame, its Twrite data cut to DECODE_MAX_DATA bytes."""
    raw = f.raw
    if f.type == TWRITE and len(raw) > 23 + DECODE_MAX_DATA:
        raw = bytearray(raw[:23 + DECODE_MAX_DATA])
        struct.pack_into("<I", raw, 0, len(raw))
        struct.pack_into("<I", raw, 19, DECODE_MAX_DATA)
    return bytes(raw)


def write(dirname, name, data):
    with open(os.path.join(dirname, name), "wb") as out:
        out.write(data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--decode", metavar="DIR", help="write fuzz-decode seeds to DIR")
    p.add_argument("--server", metavar="DIR", help="write fuzz-server seeds to DIR")
    p.add_argument("recordings", nargs="+", metavar="RECORDING")
    args = p.parse_args()
    for d in (args.decode, args.server):
        if d:
            os.makedirs(d, exist_ok=True)
    shapes, windows = set(), set()
    nframes = 0
    for path in args.recordings:
        frames = read_frames(path)
        nframes += len(frames)
        base = os.path.basename(path).rsplit(".", 1)[0]
        for f in frames if args.decode else ():
            if f.shape() not in shapes:
                shapes.add(f.shape())
                name = NAMES.get(f.type, f"type{f.type}")
                write(args.decode, f"{name}-{len(shapes)}", decode_seed(f))
        for start, aname, seed in server_seeds(frames) if args.server else ():
            key = hashlib.sha1(repr((aname, seed.shapes)).encode()).digest()
            if key not in windows:
                windows.add(key)
                export = "-" + aname.decode() if aname else ""
                write(args.server, f"{base}-{start}{export}", bytes(seed.out))
    print(f"seeds-from-recording: {nframes} frames in {len(args.recordings)} recordings: "
          f"{len(shapes)} decode seeds, {len(windows)} server seeds", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
