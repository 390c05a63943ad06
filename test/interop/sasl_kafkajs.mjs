// nagare SASL interop client: kafkajs 2.2.4 (SaslHandshake v1, then
// SaslAuthenticate v1) logs in with SASL PLAIN or SCRAM-SHA-256, produces
// one record and consumes it back in a consumer group (test/t/130_sasl.pl).
//
// usage: node sasl_kafkajs.mjs HOST:PORT MECHANISM USER PASSWORD TOPIC
//
// Prints {"ok": true}, or {"ok": false, "auth_error": bool, "error": text}
// (auth_error: the client saw its login refused).
import { randomUUID } from 'node:crypto'
import kafkajs from 'kafkajs'

const { Kafka, logLevel } = kafkajs
const [boot, mech, username, password, topic] = process.argv.slice(2)
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0) }
const authError = (e) => /SASL|Authentication/i.test(String(e && (e.name + ' ' + e.message)))

const kafka = new Kafka({
  clientId: 'nagare-sasl-kafkajs',
  brokers: [boot],
  sasl: { mechanism: mech.toLowerCase(), username, password },
  ssl: false,
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
  const consumer = kafka.consumer({ groupId: 'sasl-' + randomUUID(), sessionTimeout: 10000, rebalanceTimeout: 10000 })
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
