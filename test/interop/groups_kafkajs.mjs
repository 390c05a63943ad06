// Consumer group member and admin calls on kafkajs 2.2.4, for
// test/t/110_consumer_groups.pl.
//
// usage: node groups_kafkajs.mjs HOST:PORT COMMAND JSON|@FILE
//
//   member        a group member on one topic; arguments and events as in
//                 groups_common.py.  "assignors": kafkajs' own
//                 "RoundRobinAssigner" (its default, a protocol name no
//                 other client offers), and "roundrobin" or "range": the
//                 same round-robin assigner under the protocol name the
//                 other clients use (kafkajs has no range assigner; only the
//                 leader's assigner runs, and its assignment is in Kafka's
//                 standard ConsumerProtocol format, so any round-robin plan
//                 is valid for followers of any client).  No "revoked"
//                 events (kafkajs has no revoke callback): "rebalancing"
//                 when a heartbeat says the group rebalances.
//   lag           group topic -> {"committed": {p: offset|null}, "low", "high"}
//                 (admin.fetchOffsets: OffsetFetch; fetchTopicOffsets: ListOffsets)
//   describe      group -> {"error", "state", "protocol_type", "protocol",
//                 "members": [{"member_id", "client_id", "client_host", "assignment"}]}
//   list          -> {"groups": [{"group", "protocol_type"}]}
//   delete        groups -> {"results": {group: error name|null}}
//   set_offsets   group topic partitions([{partition, offset}]) -> {"error": text|null}
//   reset_offsets group topic earliest(bool) -> {"error": text|null}
import kafkajs from 'kafkajs'
import { Events, fail, out, parseArgs, sleep, stopSignal } from './groups_common.mjs'

const { Kafka, logLevel, PartitionAssigners, AssignerProtocol } = kafkajs
const { boot, cmd, args } = parseArgs()

let ev = null
const logCreator = () => ({ namespace, level, log }) => {
  // (heartbeats answered REBALANCE_IN_PROGRESS are logged as errors: not one)
  if (ev && level <= logLevel.ERROR && !/rebalancing/.test(log.message)) ev.emit('error', { error: `${namespace}: ${log.message}${log.error ? ' ' + log.error : ''}`.slice(0, 300) })
}
const kafka = new Kafka({
  clientId: args.client_id ?? 'groups-kafkajs',
  brokers: [boot],
  logLevel: logLevel.ERROR,
  logCreator,
  connectionTimeout: 3000,
  requestTimeout: 30000,
  retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 }
})

// kafkajs' round-robin assigner under another protocol name
function renamed (name) {
  return ({ cluster }) => {
    const rr = PartitionAssigners.roundRobin({ cluster })
    return {
      ...rr,
      name,
      protocol ({ topics }) {
        return { name, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics }) }
      }
    }
  }
}
const assigners = {
  RoundRobinAssigner: PartitionAssigners.roundRobin,
  roundrobin: renamed('roundrobin'),
  range: renamed('range')
}

function errName (e) {
  for (let x = e, depth = 0; x && depth < 6; depth++) {
    if (x.type) return x.type
    x = x.originalError || x.cause
  }
  return e && (e.name || String(e))
}

async function member () {
  ev = new Events(args.events, 'kafkajs')
  const stopped = stopSignal(args.seconds ?? 600)
  const topic = args.topic
  const mode = args.commit ?? 'batch'
  const consumer = kafka.consumer({
    groupId: args.group,
    sessionTimeout: args.session_timeout_ms ?? 6000,
    heartbeatInterval: args.heartbeat_ms ?? 500,
    rebalanceTimeout: args.max_poll_ms ?? 10000,
    partitionAssigners: (args.assignors ?? ['RoundRobinAssigner']).map(a => assigners[a]),
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
    retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 }
  })
  const { GROUP_JOIN, REBALANCING, CRASH } = consumer.events
  consumer.on(GROUP_JOIN, e => {
    const a = e.payload.memberAssignment[topic] ?? []
    ev.emit('assigned', { parts: [...a].sort((x, y) => x - y), gen: null, protocol: e.payload.groupProtocol, leader: e.payload.isLeader })
  })
  consumer.on(REBALANCING, () => ev.emit('rebalancing'))
  consumer.on(CRASH, e => {
    ev.emit('error', { error: `crash: ${e.payload.error}`, type: errName(e.payload.error), restart: e.payload.restart })
    if (!e.payload.restart) { ev.emit('crashed', { type: errName(e.payload.error) }); process.exit(3) }
  })
  const pending = new Map()
  async function commit (why) {
    if (!pending.size) return
    const offs = Object.fromEntries(pending)
    pending.clear()
    ev.emit('commit_sent', { offsets: offs, why })
    try {
      await consumer.commitOffsets(Object.entries(offs).map(([p, o]) => ({ topic, partition: Number(p), offset: String(o) })))
      ev.emit('commit_ok', { offsets: offs })
    } catch (e) {
      ev.emit('commit_err', { offsets: offs, error: errName(e) })
    }
  }
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const delay = args.delay_ms ?? 0
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
      for (const m of batch.messages) {
        if (!isRunning() || isStale()) break
        ev.emit('rec', { p: batch.partition, o: Number(m.offset) })
        pending.set(String(batch.partition), Number(m.offset) + 1)
        resolveOffset(m.offset)
      }
      if (delay) await sleep(delay)
      if (mode === 'batch') await commit('batch')
    }
  })
  await stopped
  if (mode !== 'none') await commit('close')
  await consumer.disconnect()
  ev.emit('closed')
  process.exit(0)
}

async function withAdmin (fn) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect()
  }
}

function assignmentPartitions (buf) {
  if (!buf || !buf.length) return []
  const a = AssignerProtocol.MemberAssignment.decode(buf)
  return a ? Object.values(a.assignment).flat().sort((x, y) => x - y) : []
}

const commands = {
  member,
  lag: () => withAdmin(async admin => {
    const res = { committed: {}, low: {}, high: {} }
    const [t] = await admin.fetchOffsets({ groupId: args.group, topics: [args.topic] })
    for (const p of t.partitions) res.committed[p.partition] = Number(p.offset) >= 0 ? Number(p.offset) : null
    for (const p of await admin.fetchTopicOffsets(args.topic)) {
      res.low[p.partition] = Number(p.low)
      res.high[p.partition] = Number(p.high)
    }
    return res
  }),
  describe: () => withAdmin(async admin => {
    const { groups: [g] } = await admin.describeGroups([args.group])
    return {
      error: g.errorCode ? String(g.errorCode) : null,
      state: g.state,
      protocol_type: g.protocolType,
      protocol: g.protocol,
      members: g.members.map(m => ({
        member_id: m.memberId, client_id: m.clientId, client_host: m.clientHost,
        assignment: g.protocolType === 'consumer' ? assignmentPartitions(m.memberAssignment) : []
      })).sort((a, b) => (a.member_id < b.member_id ? -1 : 1))
    }
  }),
  list: () => withAdmin(async admin => {
    const { groups } = await admin.listGroups()
    return { groups: groups.map(g => ({ group: g.groupId, protocol_type: g.protocolType })).sort((a, b) => (a.group < b.group ? -1 : 1)) }
  }),
  delete: () => withAdmin(async admin => {
    const results = Object.fromEntries(args.groups.map(g => [g, null]))
    try {
      for (const r of await admin.deleteGroups(args.groups)) results[r.groupId] = r.errorCode ? errName(r.error) : null
    } catch (e) {
      if (!e.groups) throw e
      // (only the groups that failed are in the error)
      for (const r of e.groups) results[r.groupId] = r.errorCode ? (r.error ? errName(r.error) : String(r.errorCode)) : null
    }
    return { results }
  }),
  set_offsets: () => withAdmin(async admin => {
    try {
      await admin.setOffsets({ groupId: args.group, topic: args.topic, partitions: args.partitions.map(p => ({ partition: p.partition, offset: String(p.offset) })) })
      return { error: null }
    } catch (e) {
      return { error: `${errName(e)}: ${e.message}` }
    }
  }),
  reset_offsets: () => withAdmin(async admin => {
    try {
      await admin.resetOffsets({ groupId: args.group, topic: args.topic, earliest: !!args.earliest })
      return { error: null }
    } catch (e) {
      return { error: `${errName(e)}: ${e.message}` }
    }
  })
}

if (!commands[cmd]) fail(`unknown command ${cmd}`)
commands[cmd]().then(r => { if (cmd !== 'member') out(r) }, fail)
