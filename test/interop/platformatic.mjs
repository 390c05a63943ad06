// nagare interop client: @platformatic/kafka 1.35.0 (npm; flexible versions
// only: Metadata 9+, Produce 7+, Fetch 12+, ListOffsets 5+, admin APIs at
// their newest versions).
//
// usage: node platformatic.mjs HOST:PORT COMMAND JSON|@FILE   (see interop_common.py)
//
// Commands as in confluent.py, plus delete_records {topic partition offset}
// and incremental_alter_configs {topic set: {name: value} delete: [names]}.
// Error names are the client's protocol error ids (MESSAGE_TOO_LARGE...).
//
// "consume" uses Consumer.fetch(), the client's group-less Fetch: no
// consumer group is involved.  Fetch v12 names topics, v13+ gives topic ids:
// pass fetch_version (the broker's highest Fetch version) to choose.  On
// Node 20 the client has no zstd (node:zlib lacks it).
//
// "stream" {topic count timeout_ms} reads as applications do, with the
// client's message stream (Consumer.consume, mode earliest, no commits): it
// joins a new consumer group and fetches with topic ids in every Fetch
// version, so it needs a broker serving Fetch 13+ (against Fetch 12 it got
// UNKNOWN_TOPIC_OR_PARTITION).  Records as "consume" gives them, in offset
// order.
import { Admin, Consumer, Producer, compatibilityPartitioner } from '@platformatic/kafka'
import { main, parseArgs, recordsOf, sleep, tohex, unhex } from './interop_common.mjs'

const { boot, cmd, args } = parseArgs('commands: produce consume stream list_offsets metadata create_topic describe_configs alter_configs incremental_alter_configs create_partitions delete_topic delete_records produce_loop')
const base = { clientId: 'nagare-interop-platformatic', bootstrapBrokers: [boot], retries: args.retries ?? 3, retryDelay: 200, timeout: 15000, autocreateTopics: false }
const TOPIC = 2 // ConfigResourceTypes.TOPIC

function errName (e) {
  const seen = []
  const walk = x => {
    if (!x || seen.length > 20) return null
    seen.push(x)
    if (x.apiId) return x.apiId
    for (const y of x.errors || []) {
      const r = walk(y)
      if (r) return r
    }
    return walk(x.cause)
  }
  return walk(e) || e.code || e.name || String(e)
}

function message (r, partition) {
  const headers = new Map()
  // distinct Buffer objects as keys: repeated header keys stay repeated, in order
  for (const [n, v] of r.h || []) headers.set(Buffer.from(n), unhex(v))
  const m = { topic: args.topic, key: unhex(r.k), value: unhex(r.v), headers }
  if (partition !== null && partition !== undefined) m.partition = partition
  if (r.ts !== null && r.ts !== undefined) m.timestamp = BigInt(r.ts)
  return m
}

async function produce () {
  const acks = args.acks === 'all' || args.acks === undefined ? -1 : Number(args.acks)
  // partitioner "java": murmur2 & 0x7fffffff as Kafka's Java client (and
  // nagare.send); the client's default takes murmur2 >>> 0 instead
  const p = new Producer({ ...base, idempotent: false, acks, compression: args.compression || 'none', ...(args.partitioner === 'java' ? { partitioner: compatibilityPartitioner } : {}) })
  const recs = recordsOf(args)
  const results = []
  const groups = args.each ? recs.map(r => [r]) : [recs]
  for (const group of groups) {
    try {
      const res = await p.send({ messages: group.map(r => message(r, args.partition)), acks })
      const o = res.offsets && res.offsets[0] ? Number(res.offsets[0].offset) : null
      group.forEach((_, i) => results.push({ offset: o === null || o < 0 ? null : o + i, p: res.offsets && res.offsets[0] ? res.offsets[0].partition : null }))
    } catch (e) {
      group.forEach(() => results.push({ error: errName(e), message: String(e.message) }))
    }
  }
  await p.close()
  return { results }
}

function consumer () {
  return new Consumer({ ...base, groupId: 'nagare-interop-' + Math.random().toString(16).slice(2, 10) })
}

async function offsetsAt (c, timestamp) {
  const m = await c.listOffsets({ topics: [args.topic], partitions: { [args.topic]: [args.partition] }, timestamp })
  return Number(m.get(args.topic)[args.partition])
}

async function consume () {
  const c = consumer()
  const md = await c.metadata({ topics: [args.topic] })
  const tm = md.topics.get(args.topic)
  const leader = tm.partitions[args.partition].leader
  const topicId = (args.fetch_version ?? 12) >= 13 ? tm.id : args.topic
  let offset = args.offset ?? 'earliest'
  if (offset === 'earliest') offset = await offsetsAt(c, -2n)
  else if (offset === 'latest') offset = await offsetsAt(c, -1n)
  const records = []
  let error = null
  const end = Date.now() + (args.timeout_ms ?? 10000)
  while (records.length < args.count && Date.now() < end) {
    let resp
    try {
      resp = await c.fetch({ node: leader, maxWaitTime: 200, minBytes: 1, maxBytes: 10485760, topics: [{ topicId, partitions: [{ partition: args.partition, currentLeaderEpoch: -1, fetchOffset: BigInt(offset), lastFetchedEpoch: -1, partitionMaxBytes: 10485760 }] }] })
    } catch (e) {
      error = errName(e)
      break
    }
    for (const tr of resp.responses) {
      for (const pr of tr.partitions) {
        if (pr.errorCode) { error = `code ${pr.errorCode}`; break }
        for (const batch of pr.records || []) {
          for (const r of batch.records) {
            const o = Number(batch.firstOffset) + r.offsetDelta
            if (o < offset || records.length >= args.count) continue
            records.push({ p: pr.partitionIndex, offset: o, k: tohex(r.key), v: tohex(r.value), h: r.headers.map(([n, v]) => [n.toString('utf8'), tohex(v)]), ts: Number(batch.firstTimestamp + r.timestampDelta) })
            offset = o + 1
          }
        }
      }
    }
    if (error) break
  }
  await c.close()
  return { records, error }
}

async function stream () {
  const c = consumer()
  const records = []
  let error = null
  let s = null
  try {
    s = await c.consume({ topics: [args.topic], mode: 'earliest', autocommit: false, maxWaitTime: 200 })
    await new Promise(resolve => {
      const timer = setTimeout(resolve, args.timeout_ms ?? 15000)
      const stop = () => { clearTimeout(timer); resolve() }
      s.on('data', m => {
        records.push({ p: m.partition, offset: Number(m.offset), k: tohex(m.key), v: tohex(m.value), h: [...m.headers].map(([n, v]) => [Buffer.from(n).toString('utf8'), tohex(v)]), ts: Number(m.timestamp) })
        if (records.length >= args.count) stop()
      })
      s.on('error', e => { error = errName(e); stop() })
    })
  } catch (e) {
    error = errName(e)
  }
  if (s) await s.close().catch(() => {})
  await c.close(true).catch(() => {})
  records.sort((a, b) => a.p - b.p || a.offset - b.offset)
  return { records, error }
}

async function listOffsets () {
  const c = consumer()
  const res = { earliest: await offsetsAt(c, -2n), latest: await offsetsAt(c, -1n), times: {} }
  for (const ts of args.timestamps || []) res.times[String(ts)] = await offsetsAt(c, BigInt(ts))
  await c.close()
  return res
}

async function withAdmin (fn) {
  const a = new Admin(base)
  try {
    return await fn(a)
  } finally {
    await a.close()
  }
}

const adminResult = fn => withAdmin(async a => {
  try {
    await fn(a)
    return { error: null }
  } catch (e) {
    return { error: errName(e), message: String(e.message) }
  }
})

async function metadata () {
  return withAdmin(async a => {
    const topics = {}
    let md
    if (args.topics) {
      for (const t of args.topics) {
        try {
          md = await a.metadata({ topics: [t], forceUpdate: true })
          const tm = md.topics.get(t)
          topics[t] = { error: null, id: tm.id, partitions: tm.partitions.map((_, i) => i), leaders: [...new Set(tm.partitions.map(p => p.leader))].sort() }
        } catch (e) {
          topics[t] = { error: errName(e), partitions: [] }
        }
      }
    }
    if (!md) md = await a.metadata({ topics: [], forceUpdate: true })
    return { brokers: [...md.brokers].map(([id, b]) => ({ id, host: b.host, port: b.port })), controller: md.controllerId, cluster_id: md.id, topics }
  })
}

async function describeConfigs () {
  return withAdmin(async a => {
    try {
      const r = await a.describeConfigs({ resources: [{ resourceType: TOPIC, resourceName: args.topic }] })
      const configs = {}
      for (const e of r[0].configs) configs[e.name] = { value: e.value, default: e.configSource !== 1 }
      return { error: null, configs }
    } catch (e) {
      return { error: errName(e), configs: {} }
    }
  })
}

async function produceLoop () {
  const p = new Producer({ ...base, idempotent: false, acks: -1, retries: 50, retryDelay: 200, timeout: 5000 })
  const counts = { sent: 0, acked: 0, failed: 0 }
  const end = Date.now() + args.seconds * 1000
  for (let seq = 0; Date.now() < end; seq++) {
    counts.sent++
    try {
      const r = await p.send({ messages: [{ topic: args.topic, partition: args.partition, value: Buffer.from(`${args.prefix}-${seq}`) }] })
      counts.acked++
      process.stdout.write(JSON.stringify({ seq, offset: Number(r.offsets[0].offset), t: Date.now() / 1000 }) + '\n')
    } catch (e) {
      counts.failed++
      process.stdout.write(JSON.stringify({ seq, error: errName(e) }) + '\n')
      await sleep(200)
    }
    await sleep(10)
  }
  await p.close()
  counts.undelivered = 0
  return counts
}

const cfg = c => Object.entries(c || {}).map(([name, value]) => ({ name, value: String(value) }))

await main({
  produce,
  consume,
  stream,
  list_offsets: listOffsets,
  metadata,
  create_topic: () => adminResult(a => a.createTopics({ topics: [args.topic], partitions: args.partitions ?? 1, replicas: args.replicas ?? 1, configs: cfg(args.configs) })),
  describe_configs: describeConfigs,
  alter_configs: () => adminResult(a => a.alterConfigs({ resources: [{ resourceType: TOPIC, resourceName: args.topic, configs: cfg(args.configs) }] })),
  incremental_alter_configs: () => adminResult(a => a.incrementalAlterConfigs({
    resources: [{
      resourceType: TOPIC,
      resourceName: args.topic,
      configs: [...cfg(args.set).map(c => ({ ...c, configOperation: 0 })), ...(args.delete || []).map(name => ({ name, configOperation: 1 }))]
    }]
  })),
  create_partitions: () => adminResult(a => a.createPartitions({ topics: [{ name: args.topic, count: args.count }] })),
  delete_topic: () => adminResult(a => a.deleteTopics({ topics: [args.topic] })),
  delete_records: () => adminResult(a => a.deleteRecords({ topics: [{ name: args.topic, partitions: [{ partition: args.partition, offset: BigInt(args.offset) }] }] })),
  produce_loop: produceLoop
}, cmd)
