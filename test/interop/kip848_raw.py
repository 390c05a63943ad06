"""KIP-848 by hand: ConsumerGroupHeartbeat v0 and OffsetCommit v9 requests
written byte by byte (no client library), for test/t/113_consumer_protocol.pl.

  kip848_raw.py BOOT TOPIC GROUP
  kip848_raw.py acl BOOT TOPIC GROUP PASSWORD   (a SASL_PLAINTEXT listener)

Two members of GROUP (subscribed to TOPIC) step through reconciliation one
heartbeat at a time, with the fencing errors and the member-epoch checks
of OffsetCommit; prints one JSON object of what each step answered.
"""
import json
import socket
import struct
import sys


def uvarint(n):
    out = b''
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def cstr(s):
    if s is None:
        return b'\x00'
    b = s.encode()
    return uvarint(len(b) + 1) + b


def carray(items, enc):
    if items is None:
        return b'\x00'
    return uvarint(len(items) + 1) + b''.join(enc(i) for i in items)


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def i8(self):
        return struct.unpack('>b', self.take(1))[0]

    def i16(self):
        return struct.unpack('>h', self.take(2))[0]

    def i32(self):
        return struct.unpack('>i', self.take(4))[0]

    def uv(self):
        n = s = 0
        while True:
            c = self.take(1)[0]
            n |= (c & 0x7f) << s
            s += 7
            if not c & 0x80:
                return n

    def cstr(self):
        n = self.uv()
        return None if n == 0 else self.take(n - 1).decode()

    def carray(self, dec):
        n = self.uv()
        return None if n == 0 else [dec(self) for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uv()):
            self.uv()
            self.take(self.uv())


class Conn:
    def __init__(self, boot):
        host, port = boot.split(':')
        self.s = socket.create_connection((host, int(port)), timeout=10)
        self.corr = 0

    def call(self, key, version, body, flexible=True):
        self.corr += 1
        cid = b'kip848-raw'
        hdr = struct.pack('>hhih', key, version, self.corr, len(cid)) + cid
        if flexible:
            hdr += b'\x00'
        msg = hdr + body
        self.s.sendall(struct.pack('>i', len(msg)) + msg)
        size = struct.unpack('>i', self.recv(4))[0]
        r = Reader(self.recv(size))
        assert r.i32() == self.corr
        if flexible:
            r.tags()
        return r

    def recv(self, n):
        b = b''
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError('connection closed')
            b += c
        return b


def heartbeat(c, group, member, epoch, topics=None, assignor=None, owned=None,
              rebalance=-1, instance=None):
    def enc_tp(tp):
        return tp[0] + carray(tp[1], lambda p: struct.pack('>i', p)) + b'\x00'
    body = (cstr(group) + cstr(member) + struct.pack('>i', epoch) + cstr(instance) + cstr(None) +
            struct.pack('>i', rebalance) + carray(topics, cstr) + cstr(assignor) +
            carray(owned, enc_tp) + b'\x00')
    r = c.call(68, 0, body)
    out = {'throttle': r.i32(), 'error': r.i16(), 'message': r.cstr(), 'member_id': r.cstr(),
           'epoch': r.i32(), 'interval': r.i32(), 'assignment': None}
    if r.i8() >= 0:
        def dec_tp(rr):
            uuid = rr.take(16)
            parts = rr.carray(lambda x: x.i32())
            rr.tags()
            return (uuid, parts)
        tps = r.carray(dec_tp)
        r.tags()
        out['assignment'] = tps
    return out


def parts(hb):
    """The partitions of a heartbeat's assignment, sorted (None: none sent)"""
    if hb['assignment'] is None:
        return None
    return sorted(p for _, ps in hb['assignment'] for p in ps)


def commit(c, group, member, epoch, topic):
    part = struct.pack('>iqi', 0, 1, -1) + cstr(None) + b'\x00'
    tp = cstr(topic) + uvarint(2) + part + b'\x00'
    body = cstr(group) + struct.pack('>i', epoch) + cstr(member) + cstr(None) + uvarint(2) + tp + b'\x00'
    r = c.call(8, 9, body)
    r.i32()
    topics = r.carray(lambda rr: (rr.cstr(), rr.carray(lambda x: (x.i32(), x.i16(), x.tags())[:2]),
                                  rr.tags())[:2])
    return topics[0][1][0][1]


def classic_join(c, group):
    meta = b'\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'

    def s16(s):
        return struct.pack('>h', len(s)) + s.encode()
    body = (s16(group) + struct.pack('>ii', 10000, 10000) + s16('') + struct.pack('>h', -1) +
            s16('consumer') + struct.pack('>i', 1) + s16('range') + struct.pack('>i', len(meta)) + meta)
    r = c.call(11, 5, body, flexible=False)
    r.i32()
    return r.i16()


def sasl_plain(c, user, password):
    """SaslHandshake v1 and SaslAuthenticate v0 (PLAIN); the error code"""
    mech = b'PLAIN'
    r = c.call(17, 1, struct.pack('>h', len(mech)) + mech, flexible=False)
    if r.i16() != 0:
        return -1
    tok = b'\x00' + user.encode() + b'\x00' + password.encode()
    r = c.call(36, 0, struct.pack('>i', len(tok)) + tok, flexible=False)
    return r.i16()


def describe_error(c, group):
    r = c.call(69, 0, uvarint(2) + cstr(group) + b'\x00\x00')
    r.i32()
    r.uv()
    return r.i16()


def acl_main(boot, topic, group, password):
    """As roles kr (READ on the group only), krd (and DESCRIBE on the
    topic) and knone (nothing): the errors of a join and a describe"""
    out = {}
    for role in ('knone', 'kr', 'krd'):
        c = Conn(boot)
        out[role + '_login'] = sasl_plain(c, role, password)
        hb = heartbeat(c, group, '', 0, topics=[topic], owned=[], rebalance=30000)
        out[role + '_join'] = hb['error']
        out[role + '_describe'] = describe_error(c, group)
        if hb['error'] == 0:
            heartbeat(c, group, hb['member_id'], -1)
    out['ok'] = True
    print(json.dumps(out))


def main():
    if sys.argv[1] == 'acl':
        return acl_main(*sys.argv[2:6])
    boot, topic, group = sys.argv[1:4]
    c = Conn(boot)
    out = {}
    a = heartbeat(c, group, '', 0, topics=[topic], assignor='uniform', owned=[], rebalance=30000)
    out['a_join'] = {'error': a['error'], 'epoch': a['epoch'], 'parts': parts(a),
                     'id_len': len(a['member_id'] or '')}
    aid, ae = a['member_id'], a['epoch']
    uuid = a['assignment'][0][0] if a['assignment'] else b'\x00' * 16
    out['fenced'] = heartbeat(c, group, aid, ae + 5)['error']
    out['unknown'] = heartbeat(c, group, 'nobody', 1)['error']
    out['bad_assignor'] = heartbeat(c, group, '', 0, topics=[topic], assignor='bogus',
                                    owned=[], rebalance=30000)['error']
    out['commit_current'] = commit(c, group, aid, ae, topic)
    out['commit_older'] = commit(c, group, aid, ae - 1, topic)
    out['commit_newer'] = commit(c, group, aid, ae + 1, topic)
    out['commit_unknown'] = commit(c, group, 'nobody', ae, topic)
    out['classic_join'] = classic_join(c, group)

    # b joins: a must give up half before b gets it
    b = heartbeat(c, group, '', 0, topics=[topic], owned=[], rebalance=30000)
    bid = b['member_id']
    out['b_join'] = {'error': b['error'], 'epoch': b['epoch'], 'parts': parts(b)}
    a1 = heartbeat(c, group, aid, ae)
    out['a_revoke'] = {'epoch': a1['epoch'], 'parts': parts(a1)}
    b1 = heartbeat(c, group, bid, b['epoch'])
    out['b_waits'] = {'epoch': b1['epoch'], 'parts': parts(b1)}
    # a still reports all six: nothing moves
    a2 = heartbeat(c, group, aid, ae, owned=[(uuid, list(range(6)))])
    out['a_still_owns'] = {'epoch': a2['epoch'], 'parts': parts(a2)}
    b2 = heartbeat(c, group, bid, b1['epoch'])
    out['b_still_waits'] = {'epoch': b2['epoch'], 'parts': parts(b2)}
    # a reports what it kept: its epoch moves, b gets the rest
    a3 = heartbeat(c, group, aid, ae, owned=[(uuid, parts(a1))])
    out['a_released'] = {'epoch': a3['epoch'], 'parts': parts(a3)}
    out['commit_stale_after_move'] = commit(c, group, aid, ae, topic)
    b3 = heartbeat(c, group, bid, b2['epoch'])
    out['b_gets'] = {'epoch': b3['epoch'], 'parts': parts(b3)}

    out['a_leave'] = heartbeat(c, group, aid, -1)['epoch']
    out['b_leave'] = heartbeat(c, group, bid, -1)['epoch']

    # a static member (an instance id) leaves with -2 and comes back
    sg = group + '-static'
    s1 = heartbeat(c, sg, '', 0, topics=[topic], owned=[], rebalance=30000, instance='i1')
    out['static_join'] = {'error': s1['error'], 'epoch': s1['epoch'], 'parts': parts(s1)}
    out['static_dup'] = heartbeat(c, sg, '', 0, topics=[topic], owned=[], rebalance=30000,
                                  instance='i1')['error']
    out['static_leave'] = heartbeat(c, sg, s1['member_id'], -2, instance='i1')['epoch']
    s2 = heartbeat(c, sg, '', 0, topics=[topic], owned=[], rebalance=30000, instance='i1')
    out['static_back'] = {'error': s2['error'], 'epoch': s2['epoch'], 'parts': parts(s2),
                          'new_id': int(s2['member_id'] != s1['member_id'])}
    out['static_old_id'] = heartbeat(c, sg, s1['member_id'], s1['epoch'])['error']
    heartbeat(c, sg, s2['member_id'], -1)
    out['ok'] = True
    print(json.dumps(out))


if __name__ == '__main__':
    try:
        main()
    except Exception as e:
        print(json.dumps({'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}))
