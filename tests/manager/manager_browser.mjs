// The manager page in a real headless browser (Debian's chromium through puppeteer-core): log in, create an
// instance, see its QR, pair it through fakewa's mock phone, see `open` appear without a reload, save settings,
// log the instance out, log out of the page; then an instance token's view, and a delete. Started by tests/e2e/test_manager.py, which runs wagate and fakewa.
// usage: node manager_browser.mjs MANAGER_URL API_KEY FAKEWA_CONTROL_URL SCREENSHOT_DIR [TIMEOUT_MS]
// Prints "MANAGER OK" and exits 0, or exits 1 after saving a screenshot into SCREENSHOT_DIR.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import puppeteer from 'puppeteer-core'

const [url, apiKey, control, shotDir, timeoutArg] = process.argv.slice(2)
if (!url || !apiKey || !control || !shotDir) {
	console.error('usage: node manager_browser.mjs MANAGER_URL API_KEY FAKEWA_CONTROL_URL SCREENSHOT_DIR [TIMEOUT_MS]')
	process.exit(2)
}
const timeout = Number(timeoutArg || 120000)
const chromium = process.env.CHROMIUM || '/usr/bin/chromium'
const origin = new URL(url).origin
const NAME = 'mgr-browser'
const PHONE = '5511988887777'

const step = (s) => console.log(`[${new Date().toISOString()}] ${s}`)
const problems = []	// page errors, CSP reports, requests leaving the origin

// The browser: fresh profile, nothing in the background talking to the network.
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wagate-manager-chromium-'))
const browser = await puppeteer.launch({
	executablePath: chromium,
	headless: true,
	userDataDir: profile,
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
		'--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
		`--user-data-dir=${profile}`],
	protocolTimeout: timeout,
})
const page = await browser.newPage()
page.setDefaultTimeout(30000)
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
page.on('console', (m) => {
	const t = m.text()
	console.log(`  console.${m.type()}: ${t}`)
	if (m.type() === 'error' && /Content Security Policy|Refused to/.test(t))
		problems.push(`CSP: ${t}`)
})
page.on('request', (r) => {
	const u = r.url()
	if (!u.startsWith('data:') && new URL(u).origin !== origin)
		problems.push(`request outside the origin: ${u}`)
})
let navigations = 0
page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++ })

const visible = (sel) => page.waitForSelector(sel, { visible: true })
const textOf = (sel) => page.$eval(sel, (e) => e.textContent.trim())

// POST the QR text to fakewa's mock phone; 200 once paired.
async function scanQr(code) {
	const r = await fetch(`${control}/admin/mock-phone/scan-qr?phone=${PHONE}&name=Manager%20Test`,
		{ method: 'POST', body: code })
	return { status: r.status, body: await r.text() }
}

// A call of the REST API from the test itself (setup and checks, never the page's job).
async function apiCall(method, p, body) {
	const r = await fetch(origin + p, { method, headers: { apikey: apiKey, 'Content-Type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body) })
	const text = await r.text()
	return { status: r.status, json: text ? JSON.parse(text) : null }
}

async function logIn(key) {
	await page.$eval('#login-key', (e) => { e.value = '' })
	await page.type('#login-key', key)
	await page.keyboard.press('Enter')
	await visible('#main-view')
}

async function logOut() {
	step('log out of the page')
	await page.click('#logout-manager')
	await visible('#login-form')
	if (await page.evaluate(() => sessionStorage.getItem('wagate.manager.apikey')) !== null)
		throw new Error('the key is still in sessionStorage after logging out')
	if (await page.$$eval('#instances tbody tr', (r) => r.length) !== 0)
		throw new Error('the instance list is still shown after logging out')
}

async function run() {
	step(`open ${url}`)
	const resp = await page.goto(url, { waitUntil: 'load' })
	if (resp.status() !== 200)
		throw new Error(`GET ${url}: ${resp.status()}`)
	if (!/default-src 'none'/.test(resp.headers()['content-security-policy'] || ''))
		throw new Error('no Content-Security-Policy on the page')
	await visible('#login-form')

	step('a wrong key is refused')
	await page.type('#login-key', 'not-the-key')
	await page.keyboard.press('Enter')
	await page.waitForFunction(() => !document.querySelector('#error').hidden &&
		/not accepted/.test(document.querySelector('#error').textContent))
	if (await page.$eval('#main-view', (e) => !e.hidden))
		throw new Error('the main view opened with a wrong key')

	step('log in with the global key (keyboard only)')
	await logIn(apiKey)
	await visible('#create-form')
	if (await page.evaluate(() => sessionStorage.getItem('wagate.manager.apikey')) !== apiKey)
		throw new Error('the key is not in sessionStorage')
	await page.evaluate(() => { window.__sameDocument = true })
	const navBefore = navigations

	step(`create ${NAME} with a QR code`)
	await page.type('#create-name', NAME)
	await page.click('#create-form button[type=submit]')
	await page.waitForSelector(`#instances tr[data-name="${NAME}"]`)
	await visible('#detail')
	await page.waitForFunction(() => {
		const img = document.querySelector('#qr-image')
		return !document.querySelector('#qr').hidden && img.complete && img.naturalWidth > 0 &&
			(document.querySelector('#qr').dataset.code || '').length > 0
	}, { timeout: 40000 })
	const src = await page.$eval('#qr-image', (e) => e.getAttribute('src'))
	if (!src.startsWith('data:image/png;base64,'))
		throw new Error(`the QR image is not the API's base64 PNG: ${src.slice(0, 40)}`)
	step(`QR shown (${await textOf('#qr-count')})`)

	step('scan it with fakewa\'s mock phone')
	const deadline = Date.now() + 40000
	for (;;) {
		const code = await page.$eval('#qr', (e) => e.dataset.code)
		const r = await scanQr(code)
		if (r.status === 200) {
			step(`paired: ${r.body}`)
			break
		}
		// 404: the QR rotated between reading and scanning; the page shows the next one within a poll
		if (r.status !== 404 || Date.now() > deadline)
			throw new Error(`scan-qr: ${r.status} ${r.body}`)
		await page.waitForFunction((old) => document.querySelector('#qr').dataset.code !== old, {}, code)
	}

	step('open appears without a reload')
	await page.waitForSelector(`#instances tr[data-name="${NAME}"][data-state="open"]`, { timeout: 40000 })
	await page.waitForFunction(() => document.querySelector('#detail-state').textContent === 'open')
	await page.waitForFunction(() => document.querySelector('#qr').hidden)
	await page.waitForFunction((n, p) => {
		const tr = document.querySelector(`#instances tr[data-name="${n}"]`)
		return tr && tr.cells[2].textContent.includes(p)
	}, {}, NAME, PHONE)
	if (navigations !== navBefore || !(await page.evaluate(() => window.__sameDocument === true)))
		throw new Error('the page was reloaded')

	step('keyboard: Escape closes the detail view and focus returns to the row; Enter opens it again')
	await page.keyboard.press('Escape')
	await page.waitForFunction(() => document.querySelector('#detail').hidden)
	if (await page.evaluate(() => document.activeElement.closest('tr')?.dataset.name) !== NAME)
		throw new Error('focus did not return to the instance row')
	await page.keyboard.press('Enter')
	await visible('#detail')
	await page.waitForFunction(() => document.querySelector('#detail-state').textContent === 'open')

	step('settings: reject calls, saved and read back')
	await page.click('#detail details:nth-of-type(1) summary')
	await visible('#settings-form input[name=rejectCall]')
	await page.click('#settings-form input[name=rejectCall]')
	await page.type('#settings-form input[name=msgCall]', 'no calls please')
	await page.click('#settings-form button[type=submit]')
	await page.waitForFunction(() => document.querySelector('#detail-status').textContent === 'Settings saved.')
	const saved = await page.evaluate(async (key, n) => {
		const r = await fetch(`/settings/find/${n}`, { headers: { apikey: key } })
		return r.json()
	}, apiKey, NAME)
	if (saved.rejectCall !== true || saved.msgCall !== 'no calls please')
		throw new Error(`settings not saved: ${JSON.stringify(saved)}`)

	step('webhook: URL, two events and a header, saved and read back')
	await page.click('#detail details:nth-of-type(2) summary')
	await visible('#webhook-form input[name=url]')
	await page.click('#webhook-form input[name=enabled]')
	await page.type('#webhook-form input[name=url]', 'http://127.0.0.1:8/hook')
	await page.type('#webhook-form textarea[name=headers]', '{"authorization": "Bearer t"}')
	await page.click('#webhook-events input[value=CONNECTION_UPDATE]')
	await page.click('#webhook-events input[value=QRCODE_UPDATED]')
	await page.click('#webhook-form button[type=submit]')
	await page.waitForFunction(() => document.querySelector('#detail-status').textContent === 'Webhook saved.')
	const hook = (await apiCall('GET', `/webhook/find/${NAME}`)).json
	if (!hook || hook.url !== 'http://127.0.0.1:8/hook' || !hook.enabled || hook.events.length !== 2 ||
	    !hook.headers || hook.headers.authorization !== 'Bearer t')
		throw new Error(`webhook not saved: ${JSON.stringify(hook)}`)
	if (await page.$$eval('#webhook-events input:checked', (b) => b.length) !== 2)
		throw new Error('the webhook form does not show the saved events')

	step('proxy: saved disabled and read back')
	await page.click('#detail details:nth-of-type(3) summary')
	await visible('#proxy-form input[name=host]')
	await page.type('#proxy-form input[name=host]', '10.0.0.9')
	await page.type('#proxy-form input[name=port]', '3128')
	await page.click('#proxy-form button[type=submit]')
	await page.waitForFunction(() => document.querySelector('#detail-status').textContent === 'Proxy saved.')
	const proxy = (await apiCall('GET', `/proxy/find/${NAME}`)).json
	if (!proxy || proxy.enabled !== false)
		throw new Error(`proxy not saved: ${JSON.stringify(proxy)}`)

	step('log the instance out')
	await page.click('#act-logout')
	await page.waitForSelector(`#instances tr[data-name="${NAME}"][data-state="close"]`, { timeout: 30000 })
	await page.waitForFunction(() => document.querySelector('#detail-state').textContent === 'close')

	await logOut()

	step('log in with the instance token: only that instance, no create form')
	const other = await apiCall('POST', '/instance/create', { instanceName: `${NAME}-other`,
		integration: 'WHATSAPP-BAILEYS' })
	if (other.status !== 201)
		throw new Error(`create ${NAME}-other: ${other.status}`)
	const rows = (await apiCall('GET', `/instance/fetchInstances?instanceName=${NAME}`)).json
	await logIn(rows[0].token)
	await page.waitForSelector(`#instances tr[data-name="${NAME}"]`)
	if (await page.$$eval('#instances tbody tr', (r) => r.length) !== 1)
		throw new Error('an instance token sees other instances')
	if (await page.$eval('#create-section', (e) => !e.hidden))
		throw new Error('the create form is shown to an instance token')
	if (!/instance token/.test(await textOf('#role')))
		throw new Error(`role: ${await textOf('#role')}`)
	await logOut()

	step('log in again and delete the instance (confirmed)')
	await logIn(apiKey)
	await page.click(`#instances tr[data-name="${NAME}"] button`)
	await page.waitForFunction((n) => document.querySelector('#detail-name').textContent === n, {}, NAME)
	page.once('dialog', (d) => d.accept())
	await page.click('#act-delete')
	await page.waitForFunction((n) => !document.querySelector(`#instances tr[data-name="${n}"]`) &&
		document.querySelector('#detail').hidden, {}, NAME)
	await page.waitForSelector(`#instances tr[data-name="${NAME}-other"]`)
	await logOut()
	if (problems.length)
		throw new Error(problems.join('\n'))
}

let ok = false
const timer = setTimeout(() => {
	console.error(`timed out after ${timeout} ms`)
	finish(false)
}, timeout)

async function finish(passed) {
	clearTimeout(timer)
	if (!passed) {
		try {
			fs.mkdirSync(shotDir, { recursive: true })
			const shot = path.join(shotDir, `manager-browser-failure-${Date.now()}.png`)
			await page.screenshot({ path: shot, fullPage: true })
			console.error(`screenshot: ${shot}`)
		} catch (e) {
			console.error(`no screenshot: ${e.message}`)
		}
	}
	await browser.close().catch(() => {})
	fs.rmSync(profile, { recursive: true, force: true })
	process.exit(passed ? 0 : 1)
}

try {
	await run()
	ok = true
	console.log('MANAGER OK')
} catch (e) {
	console.error(`FAILED: ${e.stack || e}`)
	for (const p of problems)
		console.error(`  ${p}`)
}
await finish(ok)
