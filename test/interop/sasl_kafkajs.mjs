// nagare SASL interop client: kafkajs 2.2.4 (SaslHandshake v1, then
// SaslAuthenticate v1) logs in with SASL PLAIN or SCRAM-SHA-256, produces
// one record and consumes it back in a consumer group (test/t/130_sasl.pl
// over SASL_PLAINTEXT, test/t/137_sasl_ssl.pl over SASL_SSL).  The consumer
// waits at most 500 ms in Fetch, so that leaving the group after the record
// came back takes no longer than that.
//
// usage: node sasl_kafkajs.mjs [--ssl CAFILE] HOST:PORT MECHANISM USER PASSWORD TOPIC
//
// --ssl CAFILE: SASL_SSL, the broker's certificate verified against the PEM
// file CAFILE (and its name against the host connected to).
//
// Prints {"ok": true}, or {"ok": false, "auth_error": bool, "error": text}
// (auth_error: the client saw its login refused).
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import kafkajs from 'kafkajs'

const { Kafka, logLevel } = kafkajs
const argv = process.argv.slice(2)
const ca = argv[0] === '--ssl' ? argv.splice(0, 2)[1] : null
const [boot, mech, username, password, topic] = argv
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0) }
const authError = (e) => /SASL|Authentication/i.test(String(e && (e.name + ' ' + e.message)))

const kafka = new Kafka({
  clientId: 'nagare-sasl-kafkajs',
  brokers: [boot],
  sasl: { mechanism: mech.toLowerCase(), username, password },
  ssl: ca ? { ca: [fs.readFileSync(ca)] } : false,
  logLevel: logLevel.NOTHING,
  retry: { retries: 2, initialRetryTime: 200 },
  connectionTimeout: 10000
})

async function run () {
  const value = 'kafkajs-' + randomUUID()
  const producer = kafka.producer()
  try {
    await producer.connect()
    await producer.send({ topic, messages: [{ value, partition: 0 }] })
    await producer.disconnect()
  } catch (e) {
    done({ ok: false, auth_error: authError(e), error: `${e.name}: ${e.message}` })
  }
  // a short Fetch wait: disconnect() waits for the Fetch in flight
  const consumer = kafka.consumer({ groupId: 'sasl-' + randomUUID(), sessionTimeout: 10000, rebalanceTimeout: 10000, maxWaitTimeInMs: 500 })
  let found = false
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => { if (message.value.toString() === value) found = true } })
  const end = Date.now() + 40000
  while (!found && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 200))
  await consumer.disconnect()
  done(found ? { ok: true } : { ok: false, auth_error: false, error: 'record not consumed' })
}

run().catch(e => done({ ok: false, auth_error: authError(e), error: `${e.name}: ${e.message}` }))
