// Any object: pick a class (the built-ins, those seen on the change stream, or
// any typed name), list its objects (objects.list), read an object's entries
// (storage.list) with their sizes and its alarm, and, with an admin token,
// edit a value as JSON or delete an entry through storage.put/storage.delete,
// so turns, durability and the change stream apply as for any client.
import { encode } from "../vendor/msgpack/dist.esm/index.mjs";
import { bytes, compact, esc, fromJson, pretty, when } from "./format.js";

const OBJECTS_PAGE = 200;
const ENTRIES_PAGE = 200;
const CLASSES_KEY = "lodestone.classes";
const encoder = new TextEncoder();

function newIdem() {
  const random = crypto.getRandomValues(new Uint8Array(12));
  return "dash-" + Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ObjectBrowser {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.link = store.link;
    this.cls = "";
    this.objects = [];
    this.objectsDone = false;
    this.object = null; // {id, name}
    this.entries = new Map(); // key -> value
    this.entriesDone = false;
    this.prefix = "";
    this.alarm = null;
    this.open = null; // the key whose value is expanded
    this.editing = null;
    this.confirming = null;
    this.flash = new Set();
    this.message = null;
    root.innerHTML = `
      <div class="toolbar">
        <input name="class" list="class-options" placeholder="Class, e.g. Agent or any storage class" aria-label="Class" class="grow">
        <button type="button" data-act="class">List objects</button>
      </div>
      <div class="class-chips" data-role="classes"></div>
      <div class="readonly-note" data-role="readonly" hidden></div>
      <div class="browser">
        <section class="object-list">
          <div class="toolbar"><input name="object-name" placeholder="Open by name" aria-label="Object name" class="grow"><button type="button" data-act="by-name">Open</button></div>
          <ul data-role="objects"></ul>
        </section>
        <section class="entries" data-role="entries"><p class="muted pad">Pick a class, then an object.</p></section>
      </div>`;
    this.classInput = root.querySelector("[name=class]");
    this.objectList = root.querySelector("[data-role=objects]");
    this.entriesBox = root.querySelector("[data-role=entries]");
    root.querySelector("[data-act=class]").addEventListener("click", () => this.pickClass(this.classInput.value.trim()));
    this.classInput.addEventListener("keydown", (e) => e.key === "Enter" && this.pickClass(this.classInput.value.trim()));
    const byName = root.querySelector("[name=object-name]");
    const openByName = () => byName.value.trim() && this.openObject({ id: null, name: byName.value.trim() });
    root.querySelector("[data-act=by-name]").addEventListener("click", openByName);
    byName.addEventListener("keydown", (e) => e.key === "Enter" && openByName());
    root.querySelector("[data-role=classes]").addEventListener("click", (e) => {
      const chip = e.target.closest("[data-class]");
      if (chip) this.pickClass(chip.dataset.class);
    });
    this.objectList.addEventListener("click", (e) => {
      const row = e.target.closest("[data-object]");
      if (row) this.openObject(this.objects[Number(row.dataset.object)]);
      else if (e.target.closest("[data-act=more-objects]")) this.#loadObjects();
    });
    this.entriesBox.addEventListener("click", (e) => this.#onEntriesClick(e));
    this.entriesBox.addEventListener("input", (e) => {
      if (e.target.name === "prefix") {
        this.prefix = e.target.value;
        clearTimeout(this.prefixTimer);
        this.prefixTimer = setTimeout(() => this.#reloadEntries(), 250);
      }
    });
    try {
      for (const cls of JSON.parse(localStorage.getItem(CLASSES_KEY) || "[]")) store.classesSeen.add(cls);
    } catch {
      localStorage.removeItem(CLASSES_KEY);
    }
    store.addEventListener("classes", () => this.renderClasses());
    store.onStream((topic, body) => this.#onStream(topic, body));
    store.addEventListener("synced", () => this.object && this.#reloadEntries());
    this.renderClasses();
  }

  get target() {
    if (!this.object) return null;
    return this.object.name != null ? { class: this.cls, name: this.object.name } : { class: this.cls, id: this.object.id };
  }

  renderClasses() {
    const classes = [...this.store.classesSeen].sort();
    document.getElementById("class-options").innerHTML = classes.map((c) => `<option value="${esc(c)}">`).join("");
    this.root.querySelector("[data-role=classes]").innerHTML = classes.map((c) =>
      `<button type="button" class="chip${c === this.cls ? " on" : ""}" data-class="${esc(c)}">${esc(c)}</button>`).join("");
    const note = this.root.querySelector("[data-role=readonly]");
    note.hidden = this.store.isAdmin !== false;
    note.textContent = this.store.adminNote;
  }

  async pickClass(cls) {
    if (!cls) return;
    this.cls = cls;
    if (!this.store.classesSeen.has(cls)) {
      // A class typed once is offered again, in this browser, as a chip.
      const kept = new Set(JSON.parse(localStorage.getItem(CLASSES_KEY) || "[]"));
      kept.add(cls);
      localStorage.setItem(CLASSES_KEY, JSON.stringify([...kept].slice(-50)));
      this.store.classesSeen.add(cls);
    }
    this.classInput.value = cls;
    this.objects = [];
    this.objectsDone = false;
    this.object = null;
    this.entries = new Map();
    this.renderClasses();
    this.#drawEntries();
    await this.#loadObjects();
  }

  async #loadObjects() {
    const args = { class: this.cls, limit: OBJECTS_PAGE };
    if (this.objects.length) args.after = this.objects[this.objects.length - 1].id;
    try {
      const page = (await this.link.call("objects.list", null, args)).objects;
      this.objects.push(...page);
      this.objectsDone = page.length < OBJECTS_PAGE;
      this.objectsError = "";
    } catch (error) {
      this.objectsError = error.message;
    }
    this.#drawObjects();
  }

  #drawObjects() {
    const rows = this.objects.map((o, i) => `<li data-object="${i}" class="${this.object && this.object.id === o.id ? "on" : ""}" title="${esc(o.id)}">` +
      `${o.name != null ? esc(o.name) : `<span class="mono muted">${esc(o.id.slice(0, 16))}…</span>`}</li>`);
    if (this.objectsError) rows.push(`<li class="error">${esc(this.objectsError)}</li>`);
    else if (!this.objects.length) rows.push(`<li class="muted">No stored object of class ${esc(this.cls)}.</li>`);
    if (!this.objectsDone && this.objects.length) rows.push(`<li><button type="button" data-act="more-objects">More…</button></li>`);
    this.objectList.innerHTML = rows.join("");
  }

  async openObject(object) {
    if (!this.cls) {
      this.message = { error: true, text: "Pick a class first." };
      this.#drawEntries();
      return;
    }
    this.object = { ...object };
    this.open = this.editing = this.confirming = null;
    this.message = null;
    this.#drawObjects();
    await this.#reloadEntries();
  }

  async #reloadEntries() {
    this.entries = new Map();
    this.entriesDone = false;
    await this.#loadEntries();
  }

  async #loadEntries() {
    const target = this.target;
    if (!target) return;
    const args = { limit: ENTRIES_PAGE };
    if (this.prefix) args.prefix = this.prefix;
    const keys = [...this.entries.keys()];
    if (keys.length) args.start_after = keys[keys.length - 1];
    try {
      const [listed, alarm, id] = await this.link.batch([
        ["storage.list", target, args],
        ["alarm.get", target, {}],
        ...(this.object.id ? [] : [["id.from_name", null, { class: this.cls, name: this.object.name }]]),
      ]);
      if (!listed.ok) throw new Error(`${listed.error.code}: ${listed.error.message}`);
      for (const [key, value] of listed.result.entries) this.entries.set(key, value);
      this.entriesDone = listed.result.entries.length < ENTRIES_PAGE;
      this.alarm = alarm.ok ? alarm.result.at_ms : null;
      if (id && id.ok) this.object.id = id.result.id;
      this.error = "";
    } catch (error) {
      this.error = error.message;
    }
    this.#drawEntries();
  }

  #onStream(topic, body) {
    if (!this.object || !body || body.class !== this.cls || body.id !== this.object.id) return;
    if (topic.startsWith("change.")) {
      if (body.cleared) this.entries.clear();
      for (const change of body.changes) {
        if (this.prefix && !change.key.startsWith(this.prefix)) continue;
        if (change.deleted) this.entries.delete(change.key);
        else this.entries.set(change.key, change.value);
        this.flash.add(change.key);
      }
      this.entries = new Map([...this.entries].sort(([a], [b]) => compareKeys(a, b)));
      this.#drawEntries();
      this.flashTimer = setTimeout(() => this.flash.clear(), 1500);
    } else if (topic.startsWith("alarm")) {
      this.alarm = null;
      this.#drawEntries();
    }
  }

  #drawEntries() {
    if (!this.object) {
      this.entriesBox.innerHTML = `<p class="muted pad">${this.cls ? "Pick an object." : "Pick a class, then an object."}</p>${this.#messageHtml()}`;
      return;
    }
    const admin = this.store.isAdmin === true;
    const lock = admin ? "" : ` disabled title="Editing needs an admin token"`;
    let total = 0;
    const rows = [];
    for (const [key, value] of this.entries) {
      const size = encode(value).length;
      total += size;
      rows.push(this.#entryRow(key, value, size, lock));
    }
    const name = this.object.name != null ? esc(this.object.name) : "(unique id)";
    this.entriesBox.innerHTML = `
      <div class="entries-head">
        <h3><span class="muted">${esc(this.cls)}</span> <span data-role="object-name">${name}</span></h3>
        <div class="mono small muted">${esc(this.object.id || "")}</div>
        <div class="small">Alarm: <span data-role="object-alarm">${this.alarm ? esc(when(this.alarm)) : "none"}</span> ·
          ${this.entries.size}${this.entriesDone ? "" : "+"} entries · ${bytes(total)} of values</div>
      </div>
      <div class="toolbar"><input name="prefix" placeholder="Key prefix" value="${esc(this.prefix)}" class="grow" aria-label="Key prefix">
        <button type="button" data-act="reload">Reload</button><button type="button" data-act="add"${lock}>Add entry</button></div>
      ${this.#messageHtml()}
      ${this.editing === "" ? this.#editor("", "null") : ""}
      ${this.error ? `<p class="error">${esc(this.error)}</p>` : ""}
      <table class="kv"><thead><tr><th>Key</th><th>Value</th><th class="num">Size</th></tr></thead>
      <tbody>${rows.join("") || `<tr><td colspan="3" class="muted">No entries${this.prefix ? " with this prefix" : ""}.</td></tr>`}</tbody></table>
      ${this.entriesDone ? "" : `<button type="button" data-act="more-entries">More…</button>`}`;
  }

  #entryRow(key, value, size, lock) {
    const isOpen = this.open === key;
    const flash = this.flash.has(key) ? " flash" : "";
    let html = `<tr class="entry${isOpen ? " open" : ""}${flash}" data-key="${esc(key)}"><td class="mono key">${esc(key)}</td>` +
      `<td class="mono value">${esc(compact(value, 120))}</td><td class="num">${bytes(size + encoder.encode(key).length)}</td></tr>`;
    if (isOpen) {
      html += `<tr class="entry-detail"><td colspan="3">` + (this.editing === key ? this.#editor(key, pretty(value)) :
        `<pre class="json">${esc(pretty(value))}</pre><div class="actions">` +
        `<button type="button" data-act="edit"${lock}>Edit</button>` +
        `<button type="button" data-act="delete" class="danger"${lock}>${this.confirming === key ? "Really delete?" : "Delete"}</button></div>`) +
        `</td></tr>`;
    }
    return html;
  }

  #editor(key, text) {
    return `<div class="editor">${key === "" ? `<input name="new-key" placeholder="Key" aria-label="New key">` : ""}
      <textarea name="value" spellcheck="false" rows="${Math.min(20, text.split("\n").length + 1)}" aria-label="Value as JSON">${esc(text)}</textarea>
      <div class="actions"><button type="button" data-act="save" class="primary">Save</button><button type="button" data-act="cancel">Cancel</button>
      <span class="muted small">JSON; bytes as {"$bytes": "hex"}</span></div></div>`;
  }

  #messageHtml() {
    if (!this.message) return "";
    return `<p class="${this.message.error ? "error" : "ok"}" data-role="object-message">${esc(this.message.text)}</p>`;
  }

  #onEntriesClick(e) {
    const act = e.target.closest("[data-act]")?.dataset.act;
    const row = e.target.closest("tr[data-key]");
    const key = e.target.closest("tr.entry-detail")?.previousElementSibling?.dataset.key ?? row?.dataset.key;
    if (!act && row) {
      this.open = this.open === key ? null : key;
      this.editing = this.confirming = null;
      this.#drawEntries();
      return;
    }
    if (act === "reload") this.#reloadEntries();
    else if (act === "more-entries") this.#loadEntries();
    else if (act === "add") {
      this.editing = "";
      this.#drawEntries();
    } else if (act === "edit") {
      this.editing = key;
      this.#drawEntries();
    } else if (act === "cancel") {
      this.editing = null;
      this.#drawEntries();
    } else if (act === "save") this.#save(e.target.closest(".editor"));
    else if (act === "delete") this.#delete(key);
  }

  async #save(editor) {
    const newKey = editor.querySelector("[name=new-key]");
    const key = newKey ? newKey.value : this.editing;
    let value;
    try {
      if (newKey && !key) throw new Error("give the entry a key");
      value = fromJson(JSON.parse(editor.querySelector("textarea").value));
    } catch (error) {
      this.message = { error: true, text: `Not saved: ${error.message}` };
      this.#drawEntries();
      return;
    }
    try {
      await this.link.call("storage.put", this.target, { key, value }, { idem: newIdem() });
      this.message = { error: false, text: `Saved ${key}: durable once this message shows.` };
      this.editing = null;
      this.open = key;
      this.entries.set(key, value);
      this.entries = new Map([...this.entries].sort(([a], [b]) => compareKeys(a, b)));
    } catch (error) {
      this.message = { error: true, text: `Not saved: ${error.message}` };
    }
    this.#drawEntries();
  }

  async #delete(key) {
    if (this.confirming !== key) {
      this.confirming = key;
      this.#drawEntries();
      return;
    }
    this.confirming = null;
    try {
      await this.link.call("storage.delete", this.target, { key }, { idem: newIdem() });
      this.entries.delete(key);
      this.open = null;
      this.message = { error: false, text: `Deleted ${key}.` };
    } catch (error) {
      this.message = { error: true, text: `Not deleted: ${error.message}` };
    }
    this.#drawEntries();
  }
}

/** Keys in the daemon's order: UTF-8 bytes. */
function compareKeys(a, b) {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
