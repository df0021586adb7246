// Interop: a real Baileys (npm baileys@7.0.0-rc14) client as a remote-controlled WhatsApp account, for the
// messaging interop tests (interop_msg.py drives it). It pairs with fakewa by QR as account PHONE (the scan goes
// to fakewa's control API, as baileys_pair.mjs does), reconnects after the 515, and once 'open' reads commands
// on stdin and reports events on stdout, one JSON object a line each way:
//   stdout {"ev":"open","jid","lid"}                              logged in
//          {"ev":"msg","upsert","id","remoteJid","remoteJidAlt","participant","participantAlt","fromMe","text",
//           "status"}
//                                                                 each messages.upsert message with its text
//          {"ev":"update","id","remoteJid","status"}              each messages.update carrying a status (a
//                                                                 receipt for our message: 3 delivered, 4 read;
//                                                                 Baileys folds a receipt into a still-buffered
//                                                                 upsert of the message instead: msg's status)
//          {"ev":"sent","tag","id","remoteJid"} / {"ev":"error","tag","error"}   answer to a command
//          {"ev":"groups","tag","groups":[{"id","subject","participants":[...]}]}
//          {"ev":"close","status"} and {"ev":"fatal","error"}      the connection closed / the agent gives up
//   stdin  {"op":"send","tag","to","text"}   sendMessage(to, {text})
//          {"op":"groups","tag"}             groupFetchAllParticipating()
//          {"op":"read","tag","id"}          readMessages([key of the received message id]): a read receipt
//          {"op":"disconnect","tag"}         end the connection (answer {"ev":"disconnected","tag"} once closed)
//          {"op":"connect","tag"}            log in again with the same auth state (then a new "open" event)
//          {"op":"quit"}                     end the socket and exit 0 (so does stdin's end)
// The driver decides what is right; this file only translates. Baileys' own log goes to stderr at the level
// INTEROP_LOG (default warn), so a failing test can show what Baileys complained about.
// usage: node baileys_agent.mjs URL ROOT_PUB_FILE CONTROL_PORT PHONE
import fs from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import util from 'node:util'
import * as baileys from 'baileys'

const [url, rootFile, controlPort, phone] = process.argv.slice(2)
if (!url || !rootFile || !controlPort || !/^[0-9]{1,20}$/.test(phone ?? '')) {
	console.error('usage: baileys_agent.mjs URL ROOT_PUB_FILE CONTROL_PORT PHONE')
	process.exit(2)
}
const makeWASocket = baileys.default?.default || baileys.default || baileys.makeWASocket
const { useMultiFileAuthState, WA_CERT_DETAILS, DisconnectReason } = baileys
const control = `http://127.0.0.1:${controlPort}`

// Trust fakewa's test root instead of WhatsApp's (Baileys exports this object mutable).
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(fs.readFileSync(rootFile, 'utf8').trim(), 'hex')

// A pino-shaped logger writing to stderr from INTEROP_LOG's level up.
const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']
const minLevel = Math.max(0, levels.indexOf(process.env.INTEROP_LOG || 'warn'))
const makeLogger = (bindings) => {
	const l = { level: levels[minLevel] }
	levels.forEach((name, i) => {
		l[name] = (obj, msg) => {
			if (i < minLevel) return
			const text = typeof obj === 'string' ? obj : `${msg ?? ''} ${safeJson(obj)}`
			process.stderr.write(`[baileys ${name}]${bindings} ${text}\n`)
		}
	})
	l.child = (b) => makeLogger(`${bindings} ${safeJson(b)}`)
	return l
}
const safeJson = (o) => {
	try {
		return JSON.stringify(o, (k, v) => (typeof v === 'bigint' ? v.toString() :
			v instanceof Uint8Array ? `<${v.length} bytes>` : v))?.slice(0, 2000)
	} catch { return String(o) }
}
const logger = makeLogger('')

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
// stdout is the event channel: libsignal's console.log/info chatter ("Closing session ...") goes to the log
for (const k of ['log', 'info', 'warn', 'error', 'debug'])
	console[k] = (...args) => process.stderr.write(`[console ${k}] ${util.format(...args)}\n`)
const authDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wagate-interop-agent-'))
const { state, saveCreds } = await useMultiFileAuthState(authDir)
let sock = null
let exiting = false
let onClosed = null	// set by the disconnect command: the close it asked for is not a failure
const received = new Map()	// id -> key of each message received (for the read command); bounded by the test
const exit = (code) => {
	if (exiting) return
	exiting = true
	try { sock?.end(undefined) } catch {}
	// Baileys may still be saving its auth state: remove the directory only on the way out.
	setTimeout(() => {
		fs.rmSync(authDir, { recursive: true, force: true })
		process.exit(code)
	}, 200)
}
const fatal = (e) => { emit({ ev: 'fatal', error: String(e?.message ?? e) }); exit(1) }

// The text of a message, whatever wrapper Baileys left around it (ephemeral, device-sent, ...).
const textOf = (m) => {
	if (!m) return null
	if (typeof m.conversation === 'string' && m.conversation !== '') return m.conversation
	if (m.extendedTextMessage?.text) return m.extendedTextMessage.text
	for (const k of ['ephemeralMessage', 'viewOnceMessage', 'deviceSentMessage', 'documentWithCaptionMessage'])
		if (m[k]?.message) return textOf(m[k].message)
	return null
}

// The scan as the phone of PHONE; the answer (jid, lid, ...) comes when the pairing is done.
let scanned = null
const scan = async (qr) => {
	const r = await fetch(`${control}/admin/mock-phone/scan-qr?phone=${phone}&name=Baileys%20${phone}`,
		{ method: 'POST', body: qr })
	const j = await r.json()
	if (r.status !== 200) throw new Error(`scan-qr: ${r.status} ${JSON.stringify(j)}`)
	return j
}

const connect = () => {
	sock = makeWASocket({
		waWebSocketUrl: url,
		// fakewa's self-signed certificate over wss; none for plain ws (the e2e harness' fakewa)
		agent: url.startsWith('wss:') ? new https.Agent({ rejectUnauthorized: false }) : undefined,
		auth: state,
		logger,
		printQRInTerminal: false,
		connectTimeoutMs: 10000,
		keepAliveIntervalMs: 5000,
		markOnlineOnConnect: false,
		syncFullHistory: false,
		// fakewa's phone sends no history sync notification. With the default (sync wanted) a first session
		// waits up to 20 s for one in AwaitingInitialSync, buffering events meanwhile; online stanzas flush the
		// buffer, but offline ones (delivered at login) do not, so their messages.upsert would come only at that
		// timeout. Saying no history is wanted makes Baileys go Online at once, as it would after a real sync.
		shouldSyncHistoryMessage: () => false,
	})
	const s = sock
	s.ev.on('creds.update', saveCreds)
	s.ev.on('connection.update', (u) => {
		if (s !== sock) return
		if (u.qr && scanned === null) {
			scanned = scan(u.qr)
			scanned.catch(fatal)
		}
		if (u.connection === 'open')
			emit({ ev: 'open', jid: s.user?.id, lid: s.user?.lid })
		if (u.connection === 'close') {
			const status = u.lastDisconnect?.error?.output?.statusCode
			if (status === DisconnectReason.restartRequired && scanned !== null) {
				// after the pairing: Baileys leaves the reconnect to the application (same auth state)
				scanned.then(() => connect(), fatal)
				return
			}
			if (onClosed !== null) {
				const done = onClosed
				onClosed = null
				done(status)
				return
			}
			emit({ ev: 'close', status })
			if (!exiting) exit(1)
		}
	})
	s.ev.on('messages.upsert', ({ messages, type }) => {
		for (const m of messages) {
			if (!m.key.fromMe) received.set(m.key.id, m.key)
			emit({
				ev: 'msg', upsert: type, id: m.key.id, remoteJid: m.key.remoteJid, remoteJidAlt: m.key.remoteJidAlt,
				participant: m.key.participant, participantAlt: m.key.participantAlt, fromMe: !!m.key.fromMe,
				text: textOf(m.message), stub: m.messageStubType ?? null, stubParams: m.messageStubParameters ?? null,
				status: m.status ?? null,
			})
		}
	})
	s.ev.on('messages.update', (updates) => {
		for (const { key, update } of updates) {
			if (typeof update?.status === 'number')
				emit({ ev: 'update', id: key.id, remoteJid: key.remoteJid, status: update.status })
		}
	})
}

const run = async (cmd) => {
	switch (cmd.op) {
	case 'send': {
		const m = await sock.sendMessage(cmd.to, { text: cmd.text })
		emit({ ev: 'sent', tag: cmd.tag, id: m.key.id, remoteJid: m.key.remoteJid })
		break
	}
	case 'groups': {
		const all = await sock.groupFetchAllParticipating()
		emit({ ev: 'groups', tag: cmd.tag, groups: Object.values(all).map(g => ({ id: g.id, subject: g.subject,
			participants: g.participants.map(p => p.id), addressingMode: g.addressingMode })) })
		break
	}
	case 'read': {
		const key = received.get(cmd.id)
		if (!key) throw new Error(`no received message ${cmd.id}`)
		await sock.readMessages([key])
		emit({ ev: 'read', tag: cmd.tag, id: cmd.id })
		break
	}
	case 'disconnect':
		await new Promise((resolve) => {
			onClosed = resolve
			sock.end(undefined)
		})
		emit({ ev: 'disconnected', tag: cmd.tag })
		break
	case 'connect':
		connect()
		emit({ ev: 'connecting', tag: cmd.tag })
		break
	case 'quit':
		exit(0)
		break
	default:
		throw new Error(`unknown op ${cmd.op}`)
	}
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
	let cmd
	try { cmd = JSON.parse(line) } catch { emit({ ev: 'error', tag: null, error: 'bad JSON command' }); return }
	run(cmd).catch(e => emit({ ev: 'error', tag: cmd.tag ?? null, error: String(e?.message ?? e) }))
})
rl.on('close', () => exit(0))
process.on('unhandledRejection', (e) => logger.error(`unhandled rejection: ${e?.stack ?? e}`))
connect()
