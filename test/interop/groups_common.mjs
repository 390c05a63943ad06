// Shared helpers of the Node consumer group members (groups_kafkajs.mjs,
// groups_platformatic.mjs): the same calling convention, arguments and
// events as groups_common.py (read its header).
import { appendFileSync, openSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

export function parseArgs () {
  const [boot, cmd, arg] = process.argv.slice(2)
  if (!arg) {
    process.stderr.write(`usage: node ${process.argv[1]} HOST:PORT COMMAND JSON|@FILE\n`)
    process.exit(2)
  }
  const args = JSON.parse(arg.startsWith('@') ? readFileSync(arg.slice(1), 'utf8') : arg)
  return { boot, cmd, args }
}

// wall clock in seconds with sub-millisecond digits, as Python's time.time()
export const now = () => (performance.timeOrigin + performance.now()) / 1000

export class Events {
  constructor (path, client) {
    this.fd = openSync(path, 'a')
    this.emit('start', { pid: process.pid, client })
  }

  emit (ev, fields = {}) {
    const o = { ...fields, ev, t: now() }
    appendFileSync(this.fd, JSON.stringify(o, (k, v) => (typeof v === 'bigint' ? Number(v) : v)) + '\n')
  }
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

export function out (obj) {
  process.stdout.write(JSON.stringify(obj, (k, v) => (typeof v === 'bigint' ? Number(v) : v)) + '\n', () => process.exit(0))
}

export function fail (e) {
  process.stderr.write(`${process.argv[1]}: ${e && e.stack ? e.stack : e}\n`, () => process.exit(1))
}

// Resolves on SIGTERM/SIGINT or after seconds; exits at once when the
// parent (the test) is gone
export function stopSignal (seconds) {
  let resolve
  const p = new Promise(r => { resolve = r })
  process.on('SIGTERM', () => resolve('signal'))
  process.on('SIGINT', () => resolve('signal'))
  setTimeout(() => resolve('time'), seconds * 1000).unref()
  const parent = process.ppid
  setInterval(() => { if (process.ppid !== parent) process.exit(4) }, 500).unref()
  return p
}
