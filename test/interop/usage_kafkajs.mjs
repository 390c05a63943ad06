// Per-client usage test client (test/t/160_usage.pl): kafkajs produces N
// records (key "k-%05d", a value of SIZE bytes) to partition 0 of TOPIC as
// client PRODUCER_ID, then reads them back as a consumer group member of
// client CONSUMER_ID.  Prints {"payload", "produced", "consumed"}.
//
// usage: node usage_kafkajs.mjs HOST:PORT TOPIC N SIZE PRODUCER_ID CONSUMER_ID
import kafkajs from 'kafkajs'

const { Kafka, logLevel } = kafkajs
const [boot, topic, nArg, sizeArg, pid, cid] = process.argv.slice(2)
const n = Number(nArg)
const size = Number(sizeArg)
const messages = []
let payload = 0
for (let i = 0; i < n; i++) {
  const key = 'k-' + String(i).padStart(5, '0')
  const value = 'v'.repeat(size)
  messages.push({ key, value, partition: 0 })
  payload += key.length + value.length
}

const opts = { brokers: [boot], logLevel: logLevel.ERROR, retry: { retries: 5 } }
const producer = new Kafka({ ...opts, clientId: pid }).producer({ idempotent: false, allowAutoTopicCreation: false })
await producer.connect()
await producer.send({ topic, acks: -1, messages })
await producer.disconnect()

const consumer = new Kafka({ ...opts, clientId: cid }).consumer({ groupId: cid, maxWaitTimeInMs: 100 })
await consumer.connect()
await consumer.subscribe({ topic, fromBeginning: true })
let consumed = 0
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => resolve(), 30000)
  consumer.run({
    autoCommit: false,
    eachMessage: async () => {
      consumed++
      if (consumed >= n) { clearTimeout(timer); resolve() }
    }
  }).catch(reject)
})
await consumer.disconnect()
process.stdout.write(JSON.stringify({ payload, produced: n, consumed }) + '\n')
