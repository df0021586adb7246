// Interop: a real Baileys (npm baileys@7.0.0-rc14) client pairs with fakewa's mock phone and logs in. This is
// the independent check of fakewa's phone side: Baileys verifies the ADV HMAC and the account signature itself.
//   qr:   fresh auth state -> QR -> POST /admin/mock-phone/scan-qr on the WebSocket's own host and port over
//         https, with the QR text as the body, exactly as Baileys' e2e helper (src/__tests__/e2e/helpers/
//         mock-phone.ts) does -> pair-success -> 515 -> reconnect with the same auth state -> connection 'open';
//         then the server-side checks (prekeys uploaded, active), a low-prekey notification (Baileys refills),
//         removal from the phone (close 401), and a login after removal (close 401).
//   code: fresh auth state -> requestPairingCode -> POST /admin/mock-phone/pair-code with a wrong code (409)
//         then the right one -> 515 -> 'open'; then logout (remove-companion-device) unlinks the device.
//   errors: the control API's refusals (400 bad QR, 404 unknown ref, 404 no link code, companion_reg_refresh),
//         then the old 4-field QR form with a wrong adv secret: Baileys refuses the HMAC (it closes the
//         connection) and scan-qr answers 409.
// usage: node baileys_pair.mjs URL ROOT_PUB_FILE CONTROL_PORT qr|code|errors [TIMEOUT_MS]
// Prints "INTEROP OK ..." and exits 0 on success; exits 1 with a reason otherwise.
import fs from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import * as baileys from 'baileys'

const [url, rootFile, controlPort, mode, timeoutArg] = process.argv.slice(2)
if (!url || !rootFile || !controlPort || !['qr', 'code', 'errors'].includes(mode)) {
	console.error('usage: baileys_pair.mjs URL ROOT_PUB_FILE CONTROL_PORT qr|code|errors [TIMEOUT_MS]')
	process.exit(2)
}
const timeoutMs = Number(timeoutArg || 60000)
const makeWASocket = baileys.default?.default || baileys.default || baileys.makeWASocket
const { useMultiFileAuthState, WA_CERT_DETAILS, DisconnectReason } = baileys
const control = `http://127.0.0.1:${controlPort}`

// Trust fakewa's test root instead of WhatsApp's (Baileys exports this object mutable).
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(fs.readFileSync(rootFile, 'utf8').trim(), 'hex')

const quiet = {
	level: 'silent',
	child() { return quiet },
	trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
}

const authDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wagate-interop-pair-'))
const { state, saveCreds } = await useMultiFileAuthState(authDir)
const steps = []
let sock = null
let done = false

const finish = (code, msg) => {
	if (done) return
	done = true
	console.log(steps.map(s => `  ${s}`).join('\n'))
	console.log(msg)
	try { sock?.end(undefined) } catch {}
	// Baileys may still be saving its auth state: remove the directory only on the way out, in the same tick
	// as the exit, so no late write finds it gone.
	setTimeout(() => {
		fs.rmSync(authDir, { recursive: true, force: true })
		process.exit(code)
	}, 200)
}
const fail = (msg) => finish(1, `INTEROP FAIL ${msg}`)
const check = (cond, msg) => { if (!cond) throw new Error(msg) }
const step = (s) => steps.push(s)
setTimeout(() => fail(`timed out after ${timeoutMs} ms; last step: ${steps.at(-1) ?? 'none'}`), timeoutMs)

const post = async (p, body) => {
	const r = await fetch(control + p, { method: 'POST', body: body ?? '', headers: { 'content-type': 'text/plain' } })
	return { status: r.status, json: await r.json() }
}
// The scan as Baileys' e2e suite posts it: same host and port as the socket, ws -> http, wss -> https.
const postLikeBaileysE2e = (qr) => new Promise((resolve, reject) => {
	const u = new URL(url)
	const req = https.request({ host: u.hostname, port: u.port, path: '/admin/mock-phone/scan-qr?name=Interop%20Phone',
		method: 'POST', rejectUnauthorized: false }, (res) => {
		let data = ''
		res.on('data', (d) => { data += d })
		res.on('end', () => { try { resolve({ status: res.statusCode, json: JSON.parse(data) }) } catch (e) { reject(e) } })
	})
	req.on('error', reject)
	req.write(qr)
	req.end()
})
const accounts = async () => (await (await fetch(control + '/admin/accounts')).json()).accounts
const sleep = (ms) => new Promise(r => setTimeout(r, ms))
const waitFor = async (what, pred, ms = 10000) => {
	const end = Date.now() + ms
	for (;;) {
		const v = await pred()
		if (v) return v
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
		await sleep(100)
	}
}
const device = async (jid) => (await accounts()).flatMap(a => a.devices).find(d => d.jid === jid)

// One socket; events go to handlers that the current phase sets.
let onQr = null, onOpen = null, onClose = null
const connect = () => {
	sock = makeWASocket({
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
	const s = sock
	s.ev.on('creds.update', saveCreds)
	s.ev.on('connection.update', (u) => {
		if (s !== sock) return
		const run = (fn, arg) => Promise.resolve().then(() => fn?.(arg)).catch(e => fail(e.message))
		if (u.qr) run(onQr, u.qr)
		if (u.connection === 'open') run(onOpen)
		if (u.connection === 'close') run(onClose, u.lastDisconnect?.error?.output?.statusCode)
	})
}

// 515 after pairing: Baileys leaves the reconnect to the application (same auth state).
const expectRestart = (status) => {
	check(status === DisconnectReason.restartRequired, `expected close 515 after pairing, got ${status}`)
	step('close 515 (restart required): reconnecting with the same auth state')
	onClose = (st) => fail(`closed before open: ${st}`)
	connect()
}

// After 'open': what fakewa saw of this device.
const checkOpen = async (paired) => {
	check(sock.user?.id === paired.jid, `user.id ${sock.user?.id} != ${paired.jid}`)
	check(sock.user?.lid === paired.lid, `user.lid ${sock.user?.lid} != ${paired.lid}`)
	const d = await waitFor('device active with prekeys', async () => {
		const d = await device(paired.jid)
		return d && d.connected && d.active && d.prekeys >= 812 ? d : null
	})
	check(d.logins === 1 && d.key_index === paired.key_index, `device ${JSON.stringify(d)}`)
	step(`open as ${sock.user.id} (lid ${sock.user.lid}); fakewa: ${d.prekeys} prekeys, active, logins ${d.logins}`)
	return d
}

const qrFlow = () => {
	let paired = null
	onQr = async (qr) => {
		if (paired !== null) return
		paired = {}
		step(`qr ${qr.slice(0, 60)}...`)
		const r = await postLikeBaileysE2e(qr)
		check(r.status === 200, `scan-qr: ${r.status} ${JSON.stringify(r.json)}`)
		Object.assign(paired, r.json)
		step(`scan-qr (on the WebSocket port): ${JSON.stringify(r.json)}`)
	}
	onClose = async (status) => {
		await waitFor('the scan-qr answer', () => paired?.jid)
		expectRestart(status)
		onOpen = async () => {
			const d = await checkOpen(paired)
			const acct = (await accounts()).find(a => a.phone === paired.phone)
			check(acct?.push_name === 'Interop Phone', `push name ${acct?.push_name}`)
			// low-prekey push: Baileys uploads more
			const r = await post(`/admin/prekey-low?jid=${encodeURIComponent(paired.jid)}&count=2`)
			check(r.status === 200, `prekey-low: ${r.status}`)
			const d2 = await waitFor('a refill after prekey-low', async () => {
				const x = await device(paired.jid)
				return x && x.prekeys > d.prekeys ? x : null
			})
			step(`prekey-low count=2: Baileys uploaded ${d2.prekeys - d.prekeys} more`)
			// removal from the phone: stream:error 401 device_removed
			onClose = (st) => {
				check(st === DisconnectReason.loggedOut, `expected close 401 after removal, got ${st}`)
				step('removed from the phone: close 401')
				onOpen = () => fail('logged in after removal')
				onClose = (st2) => {
					check(st2 === DisconnectReason.loggedOut, `expected failure 401 on login, got ${st2}`)
					step('login after removal: close 401')
					finish(0, 'INTEROP OK qr pairing, login, prekeys, removal')
				}
				connect()
			}
			const rm = await post(`/admin/remove-device?jid=${encodeURIComponent(paired.jid)}`)
			check(rm.status === 200 && rm.json.removed === 1, `remove-device: ${rm.status}`)
		}
	}
	connect()
}

const codeFlow = () => {
	const phone = '15557770001'
	let asked = false, paired = null
	onQr = async () => {
		if (asked) return
		asked = true
		const code = await sock.requestPairingCode(phone)
		step(`pairing code ${code}`)
		const wrong = code.slice(0, 7) + (code[7] === 'A' ? 'B' : 'A')
		const w = await post(`/admin/mock-phone/pair-code?phone=${phone}&code=${wrong}`)
		check(w.status === 409 && /wrong code/.test(w.json.error), `wrong code: ${w.status} ${JSON.stringify(w.json)}`)
		step(`pair-code with a wrong code: 409 ${w.json.error}`)
		const r = await post(`/admin/mock-phone/pair-code?phone=${phone}&code=${code.slice(0, 4)}-${code.slice(4)}`)
		check(r.status === 200, `pair-code: ${r.status} ${JSON.stringify(r.json)}`)
		paired = r.json
		step(`pair-code: ${JSON.stringify(r.json)}`)
	}
	onClose = async (status) => {
		await waitFor('the pair-code answer', () => paired)
		check(paired.phone === phone, `paired phone ${paired.phone}`)
		expectRestart(status)
		onOpen = async () => {
			await checkOpen(paired)
			onClose = async (st) => {
				check(st === DisconnectReason.loggedOut, `expected close 401 after logout, got ${st}`)
				await waitFor('the device to be unlinked', async () => (await device(paired.jid)) === undefined)
				step('logout: remove-companion-device unlinked the device')
				finish(0, 'INTEROP OK code pairing, login, logout')
			}
			await sock.logout()
		}
	}
	connect()
}

const errorsFlow = () => {
	let seen = false
	onQr = async (qr) => {
		if (seen) return
		seen = true
		const cl = (await (await fetch(control + '/admin/clients')).json()).clients
		check(cl.length === 1 && cl[0].payload === 'registration' && cl[0].refs_offered === 6 && !cl[0].registered,
			`clients: ${JSON.stringify(cl)}`)
		step('clients: one registration client, 6 refs offered')
		let r = await post('/admin/mock-phone/scan-qr', 'not a qr')
		check(r.status === 400, `garbage QR: ${r.status}`)
		const [head, ...rest] = qr.split(',')
		r = await post('/admin/mock-phone/scan-qr', [head + 'X', ...rest].join(','))
		check(r.status === 404, `unknown ref: ${r.status} ${JSON.stringify(r.json)}`)
		r = await post('/admin/mock-phone/pair-code?phone=15550009999&code=ABCD-EFGH')
		check(r.status === 404, `pair-code without companion_hello: ${r.status}`)
		r = await post('/admin/companion-reg-refresh?client=all')
		check(r.status === 200 && r.json.affected === 1, `companion-reg-refresh: ${r.status} ${JSON.stringify(r.json)}`)
		step('400 bad QR, 404 unknown ref, 404 no link code, companion-reg-refresh sent')
		// the pre-2026 form "ref,noise,identity,adv" with a wrong adv secret
		const ref = head.replace(/^.*#/, '')
		const bad = Buffer.alloc(32, 7).toString('base64')
		onClose = (st) => step(`Baileys closed the connection: ${st}`)
		r = await post('/admin/mock-phone/scan-qr', [ref, rest[0], rest[1], bad].join(','))
		check(r.status === 409 && /companion refused/.test(r.json.error), `wrong adv secret: ${r.status} ${JSON.stringify(r.json)}`)
		step(`4-field QR with a wrong adv secret: 409 ${r.json.error}`)
		const accts = await accounts()
		check(accts.every(a => a.devices.length === 0), `a device was registered: ${JSON.stringify(accts)}`)
		finish(0, 'INTEROP OK control API errors, HMAC refused by Baileys')
	}
	onClose = (st) => fail(`closed early: ${st}`)
	connect()
}

try {
	mode === 'qr' ? qrFlow() : mode === 'code' ? codeFlow() : errorsFlow()
} catch (e) {
	fail(e.message)
}
