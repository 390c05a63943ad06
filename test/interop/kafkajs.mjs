// nagare interop client: kafkajs 2.2.4 (npm; no flexible versions at all).
//
// usage: node kafkajs.mjs HOST:PORT COMMAND JSON|@FILE   (see interop_common.py)
//
// Commands as in confluent.py, plus delete_records {topic partition offset}.
// Error names are kafkajs' protocol error types (MESSAGE_TOO_LARGE...).
//
// kafkajs has no consumer without a group; "consume" uses the client's own
// cluster and broker objects (what its consumer runs on) to send Fetch
// requests and decode them, without group APIs.  It can read uncompressed
// and gzip batches only (other codecs need plugins).  Limits of the client:
// null header values are refused, and headers are an object, so repeated
// keys must be adjacent (they are sent as an array under one key).
import kafkajs from 'kafkajs'
import { done, main, parseArgs, recordsOf, sleep, tohex, unhex } from './interop_common.mjs'

const { Kafka, CompressionTypes, ConfigResourceTypes, logLevel } = kafkajs
const { boot, cmd, args } = parseArgs('commands: produce consume list_offsets metadata create_topic describe_configs alter_configs create_partitions delete_topic delete_records produce_loop')

const kafka = new Kafka({
  clientId: 'nagare-interop-kafkajs',
  brokers: [boot],
  logLevel: logLevel.ERROR,
  connectionTimeout: 3000,
  requestTimeout: 15000,
  retry: { retries: args.retries ?? 5, initialRetryTime: 100, maxRetryTime: 1000 }
})

function errName (e) {
  for (let x = e, depth = 0; x && depth < 5; depth++) {
    if (x.type) return x.type
    if (x.errors && x.errors[0] && x.errors[0].type) return x.errors[0].type
    if (x.partitions && x.partitions[0] && x.partitions[0].error) return errName(x.partitions[0].error) // DeleteRecords
    x = x.originalError || x.cause || (x.errors && x.errors[0])
  }
  return e.name || String(e)
}

const codecs = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD }

function message (r, partition) {
  const headers = {}
  for (const [n, v] of r.h || []) {
    const b = unhex(v)
    if (n in headers) headers[n] = [].concat(headers[n], [b])
    else headers[n] = b
  }
  const m = { key: unhex(r.k), value: unhex(r.v), headers }
  if (partition !== null && partition !== undefined) m.partition = partition // else murmur2 of the key
  if (r.ts !== null && r.ts !== undefined) m.timestamp = String(r.ts)
  return m
}

async function produce () {
  const p = kafka.producer({ idempotent: false, allowAutoTopicCreation: false, maxInFlightRequests: args.max_in_flight })
  await p.connect()
  const recs = recordsOf(args)
  const acks = args.acks === 'all' || args.acks === undefined ? -1 : Number(args.acks)
  const compression = codecs[args.compression || 'none']
  const results = []
  // one send() per record when asked (per-record errors), else one batch
  const groups = args.each ? recs.map(r => [r]) : [recs]
  for (const group of groups) {
    try {
      const md = await p.send({ topic: args.topic, acks, compression, messages: group.map(r => message(r, args.partition)) })
      const base = md && md[0] && md[0].baseOffset !== undefined ? Number(md[0].baseOffset) : null
      group.forEach((_, i) => results.push({ offset: base === null || base < 0 ? null : base + i, p: md && md[0] ? md[0].partition : null }))
    } catch (e) {
      group.forEach(() => results.push({ error: errName(e), message: String(e.message) }))
    }
  }
  await p.disconnect()
  return { results }
}

function cluster () {
  const sym = Object.getOwnPropertySymbols(kafka).find(s => s.description === 'private:Kafka:createCluster')
  return kafka[sym]({ allowAutoTopicCreation: false })
}

function headersOf (h) {
  const out = []
  for (const [n, v] of Object.entries(h || {})) {
    for (const x of Array.isArray(v) ? v : [v]) out.push([n, tohex(x)])
  }
  return out
}

async function consume () {
  const c = cluster()
  await c.connect()
  await c.addTargetTopic(args.topic)
  const leaders = c.findLeaderForPartitions(args.topic, [args.partition])
  const broker = await c.findBroker({ nodeId: Object.keys(leaders)[0] })
  let offset = args.offset ?? 'earliest'
  if (offset === 'earliest' || offset === 'latest') {
    const [t] = await c.fetchTopicsOffset([{ topic: args.topic, fromBeginning: offset === 'earliest', partitions: [{ partition: args.partition }] }])
    offset = Number(t.partitions[0].offset)
  }
  const records = []
  let error = null
  const end = Date.now() + (args.timeout_ms ?? 10000)
  while (records.length < args.count && Date.now() < end) {
    let resp
    try {
      resp = await broker.fetch({ isolationLevel: 1, maxWaitTime: 200, minBytes: 1, topics: [{ topic: args.topic, partitions: [{ partition: args.partition, fetchOffset: String(offset), maxBytes: 10485760 }] }] })
    } catch (e) {
      error = errName(e)
      break
    }
    for (const tr of resp.responses) {
      for (const pr of tr.partitions) {
        for (const m of pr.messages) {
          const o = Number(m.offset)
          if (o < offset || records.length >= args.count) continue
          records.push({ p: pr.partition, offset: o, k: tohex(m.key), v: tohex(m.value), h: headersOf(m.headers), ts: Number(m.timestamp) })
          offset = o + 1
        }
      }
    }
  }
  await c.disconnect()
  return { records, error }
}

async function withAdmin (fn) {
  const a = kafka.admin()
  await a.connect()
  try {
    return await fn(a)
  } finally {
    await a.disconnect()
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

async function listOffsets () {
  return withAdmin(async a => {
    const offs = await a.fetchTopicOffsets(args.topic)
    const p = offs.find(x => x.partition === args.partition)
    const times = {}
    for (const ts of args.timestamps || []) {
      const r = await a.fetchTopicOffsetsByTimestamp(args.topic, ts)
      times[String(ts)] = Number(r.find(x => x.partition === args.partition).offset)
    }
    return { earliest: Number(p.low), latest: Number(p.high), times }
  })
}

async function metadata () {
  return withAdmin(async a => {
    const cl = await a.describeCluster()
    const topics = {}
    if (args.topics) {
      for (const t of args.topics) {
        try {
          const md = await a.fetchTopicMetadata({ topics: [t] })
          const tm = md.topics[0]
          topics[t] = { error: null, partitions: tm.partitions.map(p => p.partitionId).sort((x, y) => x - y), leaders: [...new Set(tm.partitions.map(p => p.leader))].sort() }
        } catch (e) {
          topics[t] = { error: errName(e), partitions: [] }
        }
      }
    } else {
      for (const t of await a.listTopics()) topics[t] = { error: null }
    }
    return { brokers: cl.brokers.map(b => ({ id: b.nodeId, host: b.host, port: b.port })), controller: cl.controller, cluster_id: cl.clusterId, topics }
  })
}

async function describeConfigs () {
  return withAdmin(async a => {
    try {
      const r = await a.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: args.topic }], includeSynonyms: false })
      const res = r.resources[0]
      const configs = {}
      for (const e of res.configEntries) configs[e.configName] = { value: e.configValue, default: !!e.isDefault }
      return { error: res.errorCode ? String(res.errorCode) : null, configs }
    } catch (e) {
      return { error: errName(e), configs: {} }
    }
  })
}

async function produceLoop () {
  // sequential sends with the client's own retries, across a broker restart
  const k2 = new Kafka({ clientId: 'nagare-interop-kafkajs-loop', brokers: [boot], logLevel: logLevel.NOTHING, connectionTimeout: 1000, requestTimeout: 5000, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
  const p = k2.producer({ idempotent: false, allowAutoTopicCreation: false })
  await p.connect()
  const counts = { sent: 0, acked: 0, failed: 0 }
  const end = Date.now() + args.seconds * 1000
  for (let seq = 0; Date.now() < end; seq++) {
    counts.sent++
    try {
      const md = await p.send({ topic: args.topic, acks: -1, messages: [{ value: `${args.prefix}-${seq}`, partition: args.partition }] })
      counts.acked++
      process.stdout.write(JSON.stringify({ seq, offset: Number(md[0].baseOffset), t: Date.now() / 1000 }) + '\n')
    } catch (e) {
      counts.failed++
      process.stdout.write(JSON.stringify({ seq, error: errName(e) }) + '\n')
      await sleep(200)
    }
    await sleep(10)
  }
  await p.disconnect()
  counts.undelivered = 0
  return counts
}

const cfg = c => Object.entries(c || {}).map(([name, value]) => ({ name, value: String(value) }))

await main({
  produce,
  consume,
  list_offsets: listOffsets,
  metadata,
  create_topic: () => adminResult(a => a.createTopics({ topics: [{ topic: args.topic, numPartitions: args.partitions ?? 1, replicationFactor: 1, configEntries: cfg(args.configs) }], timeout: 10000 })
    .then(created => { if (!created) throw Object.assign(new Error('createTopics returned false (topic exists?)'), { type: 'TOPIC_ALREADY_EXISTS' }) })),
  describe_configs: describeConfigs,
  alter_configs: () => adminResult(a => a.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: args.topic, configEntries: cfg(args.configs) }] })),
  create_partitions: () => adminResult(a => a.createPartitions({ topicPartitions: [{ topic: args.topic, count: args.count }], timeout: 10000 })),
  delete_topic: () => adminResult(a => a.deleteTopics({ topics: [args.topic], timeout: 10000 })),
  // deleteTopicRecords finds leaders in metadata it does not load itself
  delete_records: () => adminResult(a => a.fetchTopicMetadata({ topics: [args.topic] })
    .then(() => a.deleteTopicRecords({ topic: args.topic, partitions: [{ partition: args.partition, offset: String(args.offset) }] }))),
  produce_loop: produceLoop
}, cmd)
