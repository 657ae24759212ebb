// A WeChat stand-in for tests: the official wechaty puppet-service gateway (PuppetServer from
// wechaty-puppet-service) in front of PuppetMock (wechaty-puppet-mock), on 127.0.0.1.
//
//   node gateway.mjs --port 8788 --token insecure_test --world world.json
//
// world.json describes the account and the people in it, so that a restarted gateway comes back
// with the same ids:
//   {"self": {"id": "wxid_bot", "name": "网格助手"},
//    "contacts": [{"id": "wxid_wang", "name": "王女士"}],
//    "rooms": [{"id": "jinghu@chatroom", "topic": "景湖名都业主群", "members": ["wxid_bot", "wxid_wang"]}]}
// Room ids must contain "@": the mock routes what the bot sends by it.
//
// stdin, one JSON object a line:
//   {"op": "say", "from": "wxid_wang", "room": "jinghu@chatroom", "text": "...", "mentions": ["wxid_bot"], "ref": "a"}
//   {"op": "say", "from": "wxid_li", "to": "wxid_bot", "text": "确认 3"}            a private message
//   {"op": "say", "from": "wxid_wang", "room": "...", "image": "https://.../x.jpg"}   an image
//   {"op": "contact", "id": ..., "name": ...}   {"op": "room", "id": ..., "topic": ..., "members": [...]}
//   {"op": "scan", "qrcode": "..."}   {"op": "logout"}   {"op": "login"}       the account's login state
// stdout, one JSON object a line, each with "t" (ms since the epoch, sub-millisecond precision):
//   ready {port}; start, stop (the client's Start/Stop calls); stream {on} (an event stream opened or
//   closed); ding; said {ref, id, streaming}; sent {to, text, mentions}; ok {ref}; error {ref, message}.
import fs from 'node:fs'
import readline from 'node:readline'
import { performance } from 'node:perf_hooks'

import { PuppetServer } from 'wechaty-puppet-service'
import { PuppetMock, mock } from 'wechaty-puppet-mock'
import { FileBox } from 'file-box'

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
)
const port = Number(args.port)
const token = args.token
if (!port || !token) {
  console.error('usage: node gateway.mjs --port N --token insecure_x [--world world.json]')
  process.exit(2)
}
// Plain HTTP/2: the Python SDK speaks no TLS and sends its token as the :authority header.
process.env.WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER = 'true'
const world = args.world ? JSON.parse(fs.readFileSync(args.world, 'utf8')) : {}

const now = () => performance.timeOrigin + performance.now()
const emit = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, t: now(), ...fields }) + '\n')

const mocker = new mock.Mocker()
const puppet = new PuppetMock({ mocker })

const botSelf = world.self ?? { id: 'wxid_bot', name: '网格助手' }
mocker.createContact({ ...botSelf })
for (const c of world.contacts ?? []) mocker.createContact({ ...c })
for (const r of world.rooms ?? []) mocker.createRoom({ id: r.id, topic: r.topic, memberIdList: r.members ?? [] })

// Every Start of the puppet logs the account in again: the Python SDK calls Stop then Start on
// each connect, and Stop logs the account out.
// (After a freeze, Start calls queued by clients that gave up arrive back to back: log in once.)
mocker.use(function loginOnStart (m) {
  if (!m.puppet.isLoggedIn) m.login(m.ContactMock.load(botSelf.id))
  return () => {}
})

// What the bot sends, recorded before the mock delivers it (the mock itself drops mentions).
const sendText = puppet.messageSendText.bind(puppet)
puppet.messageSendText = async (conversationId, text, mentionIdList = []) => {
  emit('sent', { to: conversationId, text, mentions: mentionIdList })
  return sendText(conversationId, text, mentionIdList)
}
for (const name of ['start', 'stop']) {
  const original = puppet[name].bind(puppet)
  puppet[name] = async () => { emit(name); return original() }
}
const ding = puppet.ding.bind(puppet)
puppet.ding = (data) => { emit('ding'); return ding(data) }

// The server's event stream is the only listener for 'message' besides ours: it subscribes when a
// client opens the stream and unsubscribes when the stream ends.
let streaming = false
const on = puppet.on.bind(puppet)
const off = puppet.off.bind(puppet)
puppet.on = (name, fn) => { if (name === 'message' && !streaming) { streaming = true; emit('stream', { on: true }) } return on(name, fn) }
puppet.off = (name, fn) => { if (name === 'message' && streaming) { streaming = false; emit('stream', { on: false }) } return off(name, fn) }

function say (cmd) {
  const talker = mocker.ContactMock.load(cmd.from)
  const conversation = cmd.room ? mocker.RoomMock.load(cmd.room) : mocker.ContactMock.load(cmd.to ?? botSelf.id)
  const mentions = (cmd.mentions ?? []).map(id => mocker.ContactMock.load(id))
  const something = cmd.image ? FileBox.fromUrl(cmd.image, { name: cmd.name ?? 'photo.jpg' }) : cmd.text
  let id
  const grab = payload => { id = payload.messageId }
  on('message', grab) // emitted synchronously inside say().to()
  try {
    talker.say(something, mentions).to(conversation)
  } finally {
    off('message', grab)
  }
  emit('said', { ref: cmd.ref, id, streaming })
}

function handle (cmd) {
  switch (cmd.op) {
    case 'say': return say(cmd)
    case 'contact': mocker.createContact({ id: cmd.id, name: cmd.name }); return emit('ok', { ref: cmd.ref })
    case 'room': mocker.createRoom({ id: cmd.id, topic: cmd.topic, memberIdList: cmd.members ?? [] }); return emit('ok', { ref: cmd.ref })
    case 'scan': mocker.scan(cmd.qrcode, cmd.status ?? 2); return emit('ok', { ref: cmd.ref }) // 2: waiting for a scan
    case 'logout': puppet.logout(cmd.reason ?? 'logged out by the test'); return emit('ok', { ref: cmd.ref })
    case 'login': mocker.login(mocker.ContactMock.load(botSelf.id)); return emit('ok', { ref: cmd.ref })
    default: throw new Error(`unknown op ${cmd.op}`)
  }
}

readline.createInterface({ input: process.stdin }).on('line', line => {
  if (!line.trim()) return
  let cmd = {}
  try {
    cmd = JSON.parse(line)
    handle(cmd)
  } catch (e) {
    emit('error', { ref: cmd.ref, message: String(e?.message ?? e) })
  }
}).on('close', () => process.exit(0))

const server = new PuppetServer({ endpoint: `127.0.0.1:${port}`, puppet, token, tls: { disable: true } })
await server.start()
emit('ready', { port, pid: process.pid })

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, async () => {
    await server.stop().catch(() => {})
    process.exit(0)
  })
}
