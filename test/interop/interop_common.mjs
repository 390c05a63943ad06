// Shared helpers of the Node interop clients (kafkajs.mjs, platformatic.mjs):
// the same calling convention and JSON shapes as interop_common.py.
//
//   node CLIENT.mjs HOST:PORT COMMAND JSON|@FILE
//
// One JSON object on stdout as the result, exit 0; exit 1 with a message on
// stderr when the client did something the test did not expect.
import { readFileSync } from 'node:fs'

export function parseArgs (usage) {
  const [boot, cmd, arg] = process.argv.slice(2)
  if (!arg) {
    process.stderr.write(`usage: node ${process.argv[1]} HOST:PORT COMMAND JSON|@FILE\n${usage}\n`)
    process.exit(2)
  }
  const args = JSON.parse(arg.startsWith('@') ? readFileSync(arg.slice(1), 'utf8') : arg)
  return { boot, cmd, args }
}

export const unhex = s => (s === null || s === undefined ? null : Buffer.from(s, 'hex'))
export const tohex = b => (b === null || b === undefined ? null : Buffer.from(b).toString('hex'))

export function recordsOf (args) {
  if (args.gen) {
    return Array.from({ length: args.gen.count }, (_, i) =>
      ({ k: null, v: Buffer.from(`${args.gen.prefix}-${i}`).toString('hex'), h: [], ts: null }))
  }
  return args.records
}

export function done (result) {
  process.stdout.write(JSON.stringify(result, (k, v) => (typeof v === 'bigint' ? Number(v) : v)) + '\n', () => process.exit(0))
}

export function fail (msg) {
  process.stderr.write(`${process.argv[1]}: ${msg}\n`, () => process.exit(1))
}

export async function main (commands, cmd) {
  if (!commands[cmd]) fail(`unknown command ${cmd}`)
  try {
    done(await commands[cmd]())
  } catch (e) {
    fail(`${e && e.stack ? e.stack : e}${e && e.cause ? '\ncaused by: ' + (e.cause.stack || e.cause) : ''}${e && e.errors ? '\nerrors: ' + e.errors.map(x => x && (x.stack || x)).join('\n') : ''}`)
  }
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
