// Consumer group member on @platformatic/kafka 1.35.0, for
// test/t/110_consumer_groups.pl.
//
// usage: node groups_platformatic.mjs HOST:PORT member JSON|@FILE
//
// Arguments and events as in groups_common.py.  The client offers one
// protocol, "roundrobin"; "assignors" is not used.
//
// Client limitation: by default the client announces its subscription as
// ConsumerProtocolSubscription version 1 but writes only the version 0
// fields (no OwnedPartitions); a librdkafka leader cannot parse it ("Protocol
// read buffer underflow") and gives the member no partitions.  This member
// announces version 0, which is what it writes.
//
// Client limitation: the client's message stream (Consumer.consume) puts
// topic ids in its Fetch requests even when the broker's highest Fetch
// version is 12, where the field is the topic name (ids came with v13); a
// broker serving Fetch 4-12, as nagare did, answers
// UNKNOWN_TOPIC_OR_PARTITION.  (nagare serves Fetch 13+ now, and
// test/t/100_kafka_interop.pl reads with the stream: platformatic.mjs
// "stream".)  This member was written then, and uses the client's group
// membership (Consumer.joinGroup: JoinGroup, SyncGroup, Heartbeat, rejoins,
// LeaveGroup at close), its OffsetFetch (listCommittedOffsets) when the
// assignment changes and its OffsetCommit (commit), and fetches with
// Consumer.fetch() naming the topic by its id (Fetch 13+, which nagare
// serves; a name there is sent as a malformed id).
// No "revoked" events: the assignment comes with "assigned".
import { Consumer } from '@platformatic/kafka'
import { Events, fail, parseArgs, sleep, stopSignal } from './groups_common.mjs'

const { boot, cmd, args } = parseArgs()
if (cmd !== 'member') fail(`unknown command ${cmd}`)

const ev = new Events(args.events, 'platformatic')
const topic = args.topic
const mode = args.commit ?? 'batch'

function errName (e) {
  for (let x = e, depth = 0; x && depth < 6; depth++) {
    if (x.apiId) return x.apiId
    if (x.errors && x.errors[0]) { x = x.errors[0]; continue }
    x = x.cause
  }
  return e && (e.code || e.name || String(e))
}

async function main () {
  const consumer = new Consumer({
    clientId: args.client_id ?? 'groups-platformatic',
    bootstrapBrokers: [boot],
    groupId: args.group,
    sessionTimeout: args.session_timeout_ms ?? 6000,
    heartbeatInterval: args.heartbeat_ms ?? 500,
    rebalanceTimeout: args.max_poll_ms ?? 10000,
    autocommit: false,
    protocols: [{ name: 'roundrobin', version: 0 }],
    retries: 30,
    retryDelay: 200
  })
  let parts = []
  let generation = null
  let refresh = false
  consumer.on('consumer:group:join', p => {
    parts = (p.assignments ?? []).filter(a => a.topic === topic).flatMap(a => a.partitions).sort((x, y) => x - y)
    generation = p.generationId ?? null
    refresh = true
    ev.emit('assigned', { parts, gen: generation })
  })
  consumer.on('error', e => ev.emit('error', { error: String(e).slice(0, 300) }))

  const pending = new Map()
  async function commit (why) {
    if (!pending.size) return
    const offs = Object.fromEntries(pending)
    pending.clear()
    ev.emit('commit_sent', { offsets: offs, why })
    try {
      await consumer.commit({ offsets: Object.entries(offs).map(([p, o]) => ({ topic, partition: Number(p), offset: BigInt(o), leaderEpoch: -1 })) })
      ev.emit('commit_ok', { offsets: offs })
    } catch (e) {
      ev.emit('commit_err', { offsets: offs, error: errName(e) })
    }
  }

  let stopping = false
  stopSignal(args.seconds ?? 600).then(() => { stopping = true })
  consumer.topics.trackAll(topic)
  // Fetch v13+ names the topic by id
  const topicId = (await consumer.metadata({ topics: [topic] })).topics.get(topic).id
  await consumer.joinGroup({})
  const next = new Map()
  const delay = args.delay_ms ?? 0
  const batch = args.batch ?? 20
  while (!stopping) {
    if (refresh) {
      refresh = false
      pending.clear()
      next.clear()
      if (parts.length) {
        try {
          const c = await consumer.listCommittedOffsets({ topics: [{ topic, partitions: parts }] })
          const lo = await consumer.listOffsets({ topics: [topic], partitions: { [topic]: parts }, timestamp: -2n })
          for (const p of parts) {
            const o = c.get(topic)?.[p]
            next.set(p, o !== undefined && o >= 0n ? Number(o) : Number(lo.get(topic)[p]))
          }
        } catch (e) {
          ev.emit('error', { error: `offsets: ${errName(e)}` })
          refresh = true
          await sleep(200)
          continue
        }
      }
    }
    if (!next.size) {
      await sleep(100)
      continue
    }
    let resp
    const asked = generation
    try {
      resp = await consumer.fetch({
        node: 0,
        maxWaitTime: 300,
        minBytes: 1,
        maxBytes: 1048576,
        topics: [{ topicId, partitions: [...next].map(([p, o]) => ({ partition: p, currentLeaderEpoch: -1, fetchOffset: BigInt(o), lastFetchedEpoch: -1, partitionMaxBytes: 65536 })) }]
      })
    } catch (e) {
      ev.emit('error', { error: `fetch: ${errName(e)}` })
      await sleep(200)
      continue
    }
    if (refresh || asked !== generation) continue // reassigned meanwhile: fetch again
    let n = 0
    for (const tr of resp.responses) {
      for (const pr of tr.partitions) {
        if (pr.errorCode) { ev.emit('error', { error: `fetch partition ${pr.partitionIndex}: code ${pr.errorCode}` }); continue }
        for (const b of pr.records || []) {
          for (const r of b.records) {
            const o = Number(b.firstOffset) + r.offsetDelta
            const p = pr.partitionIndex
            if (o < next.get(p) || n >= batch) continue
            ev.emit('rec', { p, o })
            next.set(p, o + 1)
            pending.set(String(p), o + 1)
            n++
          }
        }
      }
    }
    if (n && delay) await sleep(delay)
    if (mode === 'batch') await commit('batch')
  }
  if (mode !== 'none') await commit('close')
  await consumer.close()
  ev.emit('closed')
  process.exit(0)
}

main().catch(fail)
