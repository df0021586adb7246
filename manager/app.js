// wagate manager: plain JavaScript against the public REST API only (the same routes any client uses).
// The key lives in sessionStorage (gone when the tab closes) and travels only in the apikey header.
"use strict";

(function () {
	const KEY_STORE = "wagate.manager.apikey";
	const POLL_MS = 2000;
	// The API is served by the same supervisor, one level above /manager (the page's assets are at /manager/).
	const BASE = location.pathname.replace(/\/manager(\/.*)?$/, "");
	const EVENTS = ["APPLICATION_STARTUP", "QRCODE_UPDATED", "MESSAGES_SET", "MESSAGES_UPSERT", "MESSAGES_EDITED",
		"MESSAGES_UPDATE", "MESSAGES_DELETE", "SEND_MESSAGE", "CONTACTS_SET", "CONTACTS_UPSERT", "CONTACTS_UPDATE",
		"PRESENCE_UPDATE", "CHATS_SET", "CHATS_UPSERT", "CHATS_UPDATE", "CHATS_DELETE", "GROUPS_UPSERT",
		"GROUP_UPDATE", "GROUP_PARTICIPANTS_UPDATE", "CONNECTION_UPDATE", "LABELS_EDIT", "LABELS_ASSOCIATION",
		"CALL", "TYPEBOT_START", "TYPEBOT_CHANGE_STATUS", "REMOVE_INSTANCE", "LOGOUT_INSTANCE"];
	const SETTINGS_BOOLS = ["rejectCall", "groupsIgnore", "alwaysOnline", "readMessages", "readStatus",
		"syncFullHistory"];

	const $ = (id) => document.getElementById(id);
	const state = {
		key: null,
		global: false,	// logged in with the global key (sees and creates every instance)
		instances: [],
		selected: null,	// name of the instance in the detail view
		pollTimer: null,
		polling: false,
	};

	// ---- API

	class ApiError extends Error {
		constructor(status, body) {
			super(ApiError.describe(status, body));
			this.status = status;
			this.body = body;
		}
		// Evolution's error bodies nest messages: {"response":{"message":[["a","b"]]}}.
		static describe(status, body) {
			const m = body && body.response ? body.response.message : body && body.message;
			const flat = [].concat(m === undefined ? [] : m).flat(2).filter((x) => x !== null && x !== undefined);
			return flat.length ? flat.join("; ") : "HTTP " + status;
		}
	}

	async function api(method, path, body, key) {
		const headers = { apikey: key || state.key };
		const init = { method, headers, cache: "no-store", credentials: "omit" };
		if (body !== undefined) {
			headers["Content-Type"] = "application/json";
			init.body = JSON.stringify(body);
		}
		const r = await fetch(BASE + path, init);
		const text = await r.text();
		let data = null;
		try {
			data = text ? JSON.parse(text) : null;
		} catch (e) {
			data = { message: text };
		}
		if (!r.ok)
			throw new ApiError(r.status, data);
		return data;
	}

	const enc = encodeURIComponent;

	// A phone number as people type it (+55 11 99999-0001): the separators go, anything else is left for the
	// API to judge.
	const phone = (s) => s.replace(/[\s+().-]/g, "");

	// ---- messages

	function showError(e) {
		const el = $("error");
		el.textContent = e ? (e.message || String(e)) : "";
		el.hidden = !e;
	}

	function status(text) {
		$("detail-status").textContent = text;
	}

	// Run an action with its button disabled; errors go to the alert region.
	async function act(button, fn) {
		if (button)
			button.disabled = true;
		showError(null);
		try {
			await fn();
		} catch (e) {
			showError(e);
		} finally {
			if (button)
				button.disabled = false;
		}
	}

	// ---- login

	async function login(key) {
		const list = await api("GET", "/instance/fetchInstances", undefined, key);
		// An instance token sees only its own instance, whose row carries that token; anything else is global.
		const own = Array.isArray(list) && list.length > 0 && list.every((i) => i.token === key);
		state.key = key;
		state.global = !own;
		sessionStorage.setItem(KEY_STORE, key);
		$("role").textContent = state.global ? "global key" : "instance token (" + list[0].name + ")";
		$("login-view").hidden = true;
		$("main-view").hidden = false;
		$("session").hidden = false;
		$("create-section").hidden = !state.global;
		render(list);
		startPolling();
	}

	function logoutManager() {
		stopPolling();
		sessionStorage.removeItem(KEY_STORE);
		state.key = null;
		state.instances = [];
		closeDetail();
		$("instances").tBodies[0].replaceChildren();
		$("main-view").hidden = true;
		$("session").hidden = true;
		$("login-view").hidden = false;
		$("login-key").value = "";
		$("login-key").focus();
		showError(null);
	}

	// ---- polling: fetchInstances for the list, connectionState (and the QR) for the open detail view

	function startPolling() {
		stopPolling();
		state.pollTimer = setInterval(poll, POLL_MS);
	}

	function stopPolling() {
		if (state.pollTimer)
			clearInterval(state.pollTimer);
		state.pollTimer = null;
	}

	async function poll() {
		if (state.polling || !state.key)
			return;
		state.polling = true;
		try {
			render(await api("GET", "/instance/fetchInstances"));
			if (state.selected)
				await refreshDetail();
		} catch (e) {
			if (e.status === 401) {
				logoutManager();
				showError(new Error("The key is no longer accepted: log in again."));
			}
			// other failures (a restart, a network hiccup) are retried on the next tick
		} finally {
			state.polling = false;
		}
	}

	// ---- the instance list

	function cell(text, cls) {
		const td = document.createElement("td");
		td.textContent = text === null || text === undefined ? "" : String(text);
		if (cls)
			td.className = cls;
		return td;
	}

	function stateBadge(s) {
		const span = document.createElement("span");
		span.className = "state";
		span.dataset.state = s || "close";
		span.textContent = s || "close";
		return span;
	}

	function owner(i) {
		const jid = i.ownerJid ? i.ownerJid.replace(/@.*/, "") : "";
		return [i.profileName, jid].filter(Boolean).join(" · ");
	}

	function render(list) {
		if (!Array.isArray(list))
			return;
		state.instances = list;
		const tbody = $("instances").tBodies[0];
		const rows = list.slice().sort((a, b) => a.name.localeCompare(b.name)).map((i) => {
			const tr = document.createElement("tr");
			tr.dataset.name = i.name;
			tr.dataset.state = i.connectionStatus;
			const name = cell(i.name);
			const st = document.createElement("td");
			st.appendChild(stateBadge(i.connectionStatus));
			const c = i._count || {};
			const open = document.createElement("button");
			open.type = "button";
			open.className = "secondary";
			open.textContent = "Manage";
			open.setAttribute("aria-label", "Manage " + i.name);
			open.addEventListener("click", () => openDetail(i.name));
			const actions = document.createElement("td");
			actions.appendChild(open);
			tr.append(name, st, cell(owner(i)), cell(c.Message ?? 0, "num"), cell(c.Contact ?? 0, "num"),
				cell(c.Chat ?? 0, "num"), actions);
			return tr;
		});
		// Keep keyboard focus on the same row's button across refreshes.
		const focused = document.activeElement && document.activeElement.closest("tr");
		const focusName = focused && tbody.contains(focused) ? focused.dataset.name : null;
		tbody.replaceChildren(...rows);
		if (focusName) {
			const again = tbody.querySelector("tr[data-name=\"" + CSS.escape(focusName) + "\"] button");
			if (again)
				again.focus();
		}
		$("list-empty").hidden = list.length > 0;
		$("list-count").textContent = "(" + list.length + ")";
		$("list-updated").textContent = "Updated " + new Date().toLocaleTimeString();
		if (state.selected && !list.some((i) => i.name === state.selected))
			closeDetail();
		else if (state.selected)
			showOwner(list.find((i) => i.name === state.selected));
	}

	// ---- the detail view

	function showOwner(i) {
		$("detail-owner").textContent = i && owner(i) ? "owner " + owner(i) : "";
	}

	function showState(s) {
		const el = $("detail-state");
		el.dataset.state = s || "close";
		el.textContent = s || "close";
		// a QR shown before is void once the instance is open or closed (QR limit, logout)
		if (s === "open" || s === "close")
			hideQr();
	}

	function hideQr() {
		$("qr").hidden = true;
		$("qr-image").removeAttribute("src");
		delete $("qr").dataset.code;
	}

	// A QR object {pairingCode, code, base64, count}, or the connectionState shape when already open.
	function showQr(q) {
		if (!q || q.instance) {
			if (q && q.instance)
				showState(q.instance.state);
			return;
		}
		const box = $("qr");
		if (q.base64) {
			$("qr-image").src = q.base64;
			box.dataset.code = q.code || "";
			$("qr-count").textContent = "QR code " + (q.count || 1);
		}
		$("pairing").hidden = !q.pairingCode;
		$("pairing-code").textContent = q.pairingCode || "";
		box.hidden = !q.base64 && !q.pairingCode;
	}

	async function openDetail(name) {
		if (state.selected !== name) {
			hideQr();
		}
		state.selected = name;
		$("detail-name").textContent = name;
		$("detail").hidden = false;
		status("");
		showOwner(state.instances.find((i) => i.name === name));
		for (const d of $("detail").querySelectorAll("details"))
			d.open = false;
		await act(null, async () => {
			await refreshDetail();
			await Promise.all([loadSettings(), loadWebhook(), loadProxy()]);
		});
		$("detail-close").focus();
	}

	// Closed by the operator (button, Escape): keyboard focus goes back to the instance's row.
	function closeDetailByUser() {
		const name = state.selected;
		closeDetail();
		const row = Array.from($("instances").tBodies[0].rows).find((r) => r.dataset.name === name);
		if (row)
			row.querySelector("button").focus();
	}

	function closeDetail() {
		state.selected = null;
		hideQr();
		$("detail").hidden = true;
	}

	async function refreshDetail() {
		const name = state.selected;
		const r = await api("GET", "/instance/connectionState/" + enc(name));
		if (name !== state.selected)
			return;
		const s = r && r.instance ? r.instance.state : "close";
		showState(s);
		// connect while connecting returns the current QR and starts nothing: an instance found waiting for a
		// scan (created elsewhere, or restarted) shows its QR without another click.
		if (s === "connecting")
			showQr(await api("GET", "/instance/connect/" + enc(name)));
	}

	async function connect() {
		const name = state.selected;
		const number = phone($("connect-number").value);
		const q = await api("GET", "/instance/connect/" + enc(name) + (number ? "?number=" + enc(number) : ""));
		showQr(q);
		if (q && !q.instance && !q.base64 && !q.pairingCode)
			status("Connecting: the QR code appears in a moment.");
	}

	async function restart() {
		const q = await api("POST", "/instance/restart/" + enc(state.selected));
		showQr(q);
		status("Restarted.");
	}

	async function logoutInstance() {
		await api("DELETE", "/instance/logout/" + enc(state.selected));
		hideQr();
		status("Logged out: connect again to pair.");
		await poll();
	}

	async function remove() {
		const name = state.selected;
		if (!confirm("Delete instance \"" + name + "\" and everything stored for it?"))
			return;
		await api("DELETE", "/instance/delete/" + enc(name));
		closeDetail();
		await poll();
	}

	// ---- settings, webhook, proxy

	function formValues(form) {
		const out = {};
		for (const el of form.elements) {
			if (!el.name || el.closest("#webhook-events"))
				continue;
			out[el.name] = el.type === "checkbox" ? el.checked : el.value;
		}
		return out;
	}

	function fillForm(form, values) {
		for (const el of form.elements) {
			if (!el.name || el.closest("#webhook-events"))
				continue;
			const v = values ? values[el.name] : undefined;
			if (el.type === "checkbox")
				el.checked = v === true;
			else if (el.tagName === "SELECT")
				el.value = v || el.options[0].value;
			else
				el.value = v === undefined || v === null ? "" : String(v);
		}
	}

	async function loadSettings() {
		fillForm($("settings-form"), await api("GET", "/settings/find/" + enc(state.selected)));
	}

	async function saveSettings() {
		const v = formValues($("settings-form"));
		const body = { msgCall: v.msgCall };
		for (const k of SETTINGS_BOOLS)
			body[k] = v[k];
		await api("POST", "/settings/set/" + enc(state.selected), body);
		await loadSettings();
		status("Settings saved.");
	}

	function eventBoxes() {
		return $("webhook-events").querySelectorAll("input[type=checkbox]");
	}

	async function loadWebhook() {
		const w = await api("GET", "/webhook/find/" + enc(state.selected));
		fillForm($("webhook-form"), w ? {
			enabled: w.enabled, url: w.url, byEvents: w.webhookByEvents, base64: w.webhookBase64,
			headers: w.headers && Object.keys(w.headers).length ? JSON.stringify(w.headers) : "",
		} : null);
		const on = new Set(w && Array.isArray(w.events) && w.events.length < EVENTS.length ? w.events : []);
		for (const box of eventBoxes())
			box.checked = on.has(box.value);
	}

	async function saveWebhook() {
		const v = formValues($("webhook-form"));
		const webhook = { enabled: v.enabled, url: v.url.trim(), byEvents: v.byEvents, base64: v.base64,
			events: Array.from(eventBoxes()).filter((b) => b.checked).map((b) => b.value) };
		if (v.headers.trim()) {
			try {
				webhook.headers = JSON.parse(v.headers);
			} catch (e) {
				throw new Error("Headers must be a JSON object, e.g. {\"authorization\": \"Bearer x\"}");
			}
		}
		await api("POST", "/webhook/set/" + enc(state.selected), { webhook });
		await loadWebhook();
		status("Webhook saved.");
	}

	async function loadProxy() {
		fillForm($("proxy-form"), await api("GET", "/proxy/find/" + enc(state.selected)));
	}

	async function saveProxy() {
		const v = formValues($("proxy-form"));
		await api("POST", "/proxy/set/" + enc(state.selected), {
			enabled: v.enabled, host: v.host.trim(), port: v.port.trim(), protocol: v.protocol,
			username: v.username, password: v.password,
		});
		await loadProxy();
		status("Proxy saved.");
	}

	// ---- create

	async function create(form) {
		const name = $("create-name").value.trim();
		const number = phone($("create-number").value);
		const qrcode = $("create-qrcode").checked;
		const body = { instanceName: name, integration: "WHATSAPP-BAILEYS", qrcode };
		if (number)
			body.number = number;
		const r = await api("POST", "/instance/create", body);
		form.reset();
		$("create-qrcode").checked = true;
		await poll();
		await openDetail(name);
		if (qrcode) {
			showQr(r.qrcode);
			if (!r.qrcode || (!r.qrcode.base64 && !r.qrcode.pairingCode))
				status("Connecting: the QR code appears in a moment.");
		}
	}

	// ---- wiring

	function onSubmit(id, fn) {
		const form = $(id);
		form.addEventListener("submit", (ev) => {
			ev.preventDefault();
			act(form.querySelector("button[type=submit]"), () => fn(form));
		});
	}

	function init() {
		const events = $("webhook-events");
		for (const name of EVENTS) {
			const label = document.createElement("label");
			label.className = "check";
			const box = document.createElement("input");
			box.type = "checkbox";
			box.value = name;
			label.append(box, " " + name);
			events.appendChild(label);
		}
		onSubmit("login-form", async () => {
			try {
				await login($("login-key").value.trim());
			} catch (e) {
				throw e.status === 401 ? new Error("This key is not accepted.") : e;
			}
		});
		onSubmit("create-form", create);
		onSubmit("settings-form", saveSettings);
		onSubmit("webhook-form", saveWebhook);
		onSubmit("proxy-form", saveProxy);
		$("logout-manager").addEventListener("click", logoutManager);
		$("detail-close").addEventListener("click", closeDetailByUser);
		$("act-connect").addEventListener("click", (e) => act(e.currentTarget, connect));
		$("act-restart").addEventListener("click", (e) => act(e.currentTarget, restart));
		$("act-logout").addEventListener("click", (e) => act(e.currentTarget, logoutInstance));
		$("act-delete").addEventListener("click", (e) => act(e.currentTarget, remove));
		document.addEventListener("keydown", (e) => {
			if (e.key === "Escape" && state.selected)
				closeDetailByUser();
		});
		const saved = sessionStorage.getItem(KEY_STORE);
		if (saved)
			act(null, () => login(saved).catch((e) => {
				sessionStorage.removeItem(KEY_STORE);
				throw e;
			}));
		else
			$("login-key").focus();
	}

	init();
})();
