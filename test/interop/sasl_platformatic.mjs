// nagare SASL interop client: @platformatic/kafka 1.35.0 (SaslHandshake v1,
// then SaslAuthenticate v2, flexible) logs in with SASL PLAIN or
// SCRAM-SHA-256, produces one record and fetches it back (group-less Fetch)
// (test/t/130_sasl.pl over SASL_PLAINTEXT, test/t/137_sasl_ssl.pl over
// SASL_SSL).
//
// usage: node sasl_platformatic.mjs [--ssl CAFILE] HOST:PORT MECHANISM USER PASSWORD TOPIC
//
// --ssl CAFILE: SASL_SSL (the client's tls option), the broker's certificate
// verified against the PEM file CAFILE (and its name against the host).
//
// Prints {"ok": true}, or {"ok": false, "auth_error": bool, "error": text}
// (auth_error: the client saw its login refused).
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import { Consumer, Producer } from '@platformatic/kafka'

const argv = process.argv.slice(2)
const ca = argv[0] === '--ssl' ? argv.splice(0, 2)[1] : null
const [boot, mechanism, username, password, topic] = argv
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0) }
const describe = (e) => {
  const parts = []
  const walk = (x, depth) => {
    if (!x || depth > 5) return
    parts.push(`${x.code || x.name}: ${x.message}`)
    for (const y of x.errors || []) walk(y, depth + 1)
    walk(x.cause, depth + 1)
  }
  walk(e, 0)
  return parts.join(' / ')
}
const authError = (e) => /SASL|AUTHENTICATION|Authentication/.test(describe(e))
const base = {
  clientId: 'nagare-sasl-platformatic',
  bootstrapBrokers: [boot],
  sasl: { mechanism, username, password },
  ...(ca ? { tls: { ca: [fs.readFileSync(ca)] } } : {}),
  retries: 2,
  retryDelay: 200,
  timeout: 15000,
  autocreateTopics: false
}

async function run () {
  const value = 'platformatic-' + randomUUID()
  const p = new Producer({ ...base, idempotent: false, acks: -1 })
  try {
    await p.send({ messages: [{ topic, partition: 0, value: Buffer.from(value) }], acks: -1 })
  } catch (e) {
    await p.close().catch(() => {})
    done({ ok: false, auth_error: authError(e), error: describe(e) })
  }
  await p.close()
  const c = new Consumer({ ...base, groupId: 'sasl-' + randomUUID() })
  const end = Date.now() + 30000
  try {
    const md = await c.metadata({ topics: [topic] })
    const leader = md.topics.get(topic).partitions[0].leader
    // Fetch v13+ (which nagare serves) names the topic by id
    const topicId = md.topics.get(topic).id
    while (Date.now() < end) {
      const resp = await c.fetch({ node: leader, maxWaitTime: 200, minBytes: 1, maxBytes: 1048576, topics: [{ topicId, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, partitionMaxBytes: 1048576 }] }] })
      for (const tr of resp.responses) {
        for (const pr of tr.partitions) {
          for (const batch of pr.records || []) {
            for (const r of batch.records) {
              if (r.value && r.value.toString() === value) {
                await c.close()
                done({ ok: true })
              }
            }
          }
        }
      }
    }
  } catch (e) {
    await c.close().catch(() => {})
    done({ ok: false, auth_error: authError(e), error: describe(e) })
  }
  await c.close()
  done({ ok: false, auth_error: false, error: 'record not consumed' })
}

run().catch(e => done({ ok: false, auth_error: authError(e), error: describe(e) }))
