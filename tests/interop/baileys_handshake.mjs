// Interop: a real Baileys (npm baileys@7.0.0-rc14) client connects to fakewa over TLS, completes the Noise
// handshake against fakewa's test root, and is offered pairing (pair-device -> QR event).
// usage: node baileys_handshake.mjs URL ROOT_PUB_HEX_FILE [TIMEOUT_MS]
// Prints "INTEROP OK qr=<n>" and exits 0 on success; exits 1 with a reason otherwise.
import fs from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import * as baileys from 'baileys'

const [url, rootFile, timeoutArg] = process.argv.slice(2)
if (!url || !rootFile) {
	console.error('usage: baileys_handshake.mjs URL ROOT_PUB_FILE [TIMEOUT_MS]')
	process.exit(2)
}
const timeoutMs = Number(timeoutArg || 20000)
const makeWASocket = baileys.default?.default || baileys.default || baileys.makeWASocket
const { useMultiFileAuthState, WA_CERT_DETAILS } = baileys

// Trust fakewa's test root instead of WhatsApp's (Baileys exports this object mutable).
const rootHex = fs.readFileSync(rootFile, 'utf8').trim()
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(rootHex, 'hex')

const quiet = {
	level: 'silent',
	child() { return quiet },
	trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
}

const authDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wagate-interop-'))
const { state, saveCreds } = await useMultiFileAuthState(authDir)

let qrCount = 0
let done = false
const finish = (code, msg) => {
	if (done) return
	done = true
	console.log(msg)
	try { sock.end(undefined) } catch {}
	// Baileys may still be saving its auth state: remove the directory in the same tick as the exit.
	setTimeout(() => {
		fs.rmSync(authDir, { recursive: true, force: true })
		process.exit(code)
	}, 100)
}

const sock = makeWASocket({
	waWebSocketUrl: url,
	agent: new https.Agent({ rejectUnauthorized: false }),
	auth: state,
	logger: quiet,
	printQRInTerminal: false,
	connectTimeoutMs: 10000,
	keepAliveIntervalMs: 5000,
	markOnlineOnConnect: false,
	syncFullHistory: false,
})
sock.ev.on('creds.update', saveCreds)
sock.ev.on('connection.update', (u) => {
	if (u.qr) {
		qrCount++
		// A QR needs the pair-device refs, which only arrive over the established Noise channel.
		finish(0, `INTEROP OK qr=${qrCount} ref=${u.qr.split(',')[0].replace(/^.*#/, '').slice(0, 16)}...`)
	}
	if (u.connection === 'close') {
		const err = u.lastDisconnect?.error
		finish(1, `INTEROP FAIL connection closed: ${err?.output?.statusCode ?? ''} ${err?.message ?? err}`)
	}
})
setTimeout(() => finish(1, `INTEROP FAIL no QR within ${timeoutMs} ms`), timeoutMs)
