// kafkajs over TLS for test/t/135_tls.pl (SSL) and test/t/137_sasl_ssl.pl
// (SASL_SSL).
//
// usage: node tls_kafkajs.mjs HOST:PORT COMMAND JSON
//
// As tls_clients.py: JSON holds "ca" (and "cert", "key"), optionally "sasl"
// ({"mechanism": "PLAIN" or "SCRAM-SHA-256", "username", "password"}: a SASL
// login inside TLS, SASL_SSL) and the command's arguments; produce {topic
// count size} and consume {topic count} print
// {"produced": n} and {"count": n, "bytes": b, "sha256": h}, with the same
// record values (kafkajs' consumer needs a group: it joins a fresh one).
import crypto from 'node:crypto'
import fs from 'node:fs'
import kafkajs from 'kafkajs'

const { Kafka, logLevel } = kafkajs
const [boot, cmd, json] = process.argv.slice(2)
const args = JSON.parse(json)

function value (i, size) {
  const head = Buffer.from(`${i}:`)
  const body = Buffer.alloc(256)
  for (let j = 0; j < 256; j++) body[j] = (i + j) % 251
  const out = Buffer.alloc(size)
  head.copy(out, 0)
  for (let k = head.length; k < size; k++) out[k] = body[(k - head.length) % 256]
  return out
}

const ssl = { ca: [fs.readFileSync(args.ca)] }
if (args.cert) {
  ssl.cert = fs.readFileSync(args.cert)
  ssl.key = fs.readFileSync(args.key)
}
const sasl = args.sasl
  ? { mechanism: args.sasl.mechanism.toLowerCase(), username: args.sasl.username, password: args.sasl.password }
  : undefined
const kafka = new Kafka({
  clientId: 'nagare-tls-kafkajs',
  brokers: [boot],
  ssl,
  sasl,
  logLevel: logLevel.ERROR,
  connectionTimeout: 5000,
  requestTimeout: 30000,
  retry: { retries: 5, initialRetryTime: 200 }
})

async function run () {
  if (cmd === 'produce') {
    const p = kafka.producer()
    await p.connect()
    const messages = []
    for (let i = 0; i < args.count; i++) messages.push({ value: value(i, args.size) })
    await p.send({ topic: args.topic, messages, acks: -1 })
    await p.disconnect()
    return { produced: args.count }
  }
  if (cmd === 'consume') {
    const c = kafka.consumer({ groupId: `tls-${Date.now()}`, maxBytes: 64 * 1024 * 1024, maxBytesPerPartition: 32 * 1024 * 1024 })
    await c.connect()
    await c.subscribe({ topic: args.topic, fromBeginning: true })
    const h = crypto.createHash('sha256')
    let n = 0
    let bytes = 0
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(), 60000)
      c.run({
        eachMessage: async ({ message }) => {
          if (n >= args.count) return
          h.update(message.value)
          bytes += message.value.length
          n++
          if (n >= args.count) {
            clearTimeout(timer)
            resolve()
          }
        }
      }).catch(reject)
    })
    await c.disconnect()
    return { count: n, bytes, sha256: h.digest('hex') }
  }
  throw new Error(`unknown command ${cmd}`)
}

run().then(r => {
  process.stdout.write(JSON.stringify(r) + '\n')
  process.exit(0)
}, e => {
  process.stderr.write(`${e.stack || e}\n`)
  process.exit(1)
})
