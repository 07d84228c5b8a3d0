/* Animam chat widget: dependency-free, styles isolated in a shadow root, one global
   (window.AnimamWidget). Embed:
   <script src="https://HOST/widget.js" data-tenant="acme" data-segment="checkout" defer></script> */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.AnimamWidget) return;
  var tenant = me.getAttribute("data-tenant") || "";
  var segment = me.getAttribute("data-segment") || "";
  var base = new URL(me.src, location.href).origin;
  var key = "animam:session:" + tenant;

  var CSS =
    ":host{all:initial;position:fixed;right:20px;bottom:20px;z-index:2147483000;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328}" +
    "*{box-sizing:border-box}" +
    ".launch{width:56px;height:56px;border-radius:50%;border:0;background:var(--p);color:var(--s);cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);font-size:24px;display:grid;place-items:center}" +
    ".launch:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid #f5a524;outline-offset:2px}" +
    ".panel{position:absolute;right:0;bottom:70px;width:min(370px,calc(100vw - 40px));height:min(540px,calc(100vh - 110px));background:#fff;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}" +
    ".panel[hidden]{display:none}" +
    "header{background:var(--p);color:var(--s);padding:12px 14px;display:flex;align-items:center;gap:8px}" +
    "header .t{flex:1;min-width:0}header b{display:block}header small{opacity:.85}" +
    ".ai{font-size:11px;font-weight:700;border:1px solid currentColor;border-radius:4px;padding:0 4px}" +
    ".x{background:none;border:0;color:inherit;font-size:22px;cursor:pointer;padding:0 4px}" +
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}" +
    ".m{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}" +
    ".bot{background:#fff;border:1px solid #e3e5e8;align-self:flex-start}" +
    ".me{background:var(--p);color:var(--s);align-self:flex-end}" +
    ".err{background:#fdecea;color:#8a1c14;border:1px solid #f5c2bd;align-self:stretch;max-width:none}" +
    ".typing span{display:inline-block;width:7px;height:7px;margin:0 2px;border-radius:50%;background:#8b949e;animation:b 1s infinite}" +
    ".typing span:nth-child(2){animation-delay:.15s}.typing span:nth-child(3){animation-delay:.3s}" +
    "@keyframes b{0%,80%,100%{opacity:.3}40%{opacity:1}}" +
    ".starters{display:flex;flex-wrap:wrap;gap:6px}" +
    ".starters button{border:1px solid var(--p);color:var(--p);background:#fff;border-radius:14px;padding:4px 10px;cursor:pointer;font:inherit;font-size:13px}" +
    "form{display:flex;gap:6px;padding:10px;border-top:1px solid #e3e5e8;background:#fff}" +
    "textarea{flex:1;resize:none;border:1px solid #c9ced4;border-radius:8px;padding:8px;font:inherit;height:40px}" +
    "form button{border:0;border-radius:8px;background:var(--p);color:var(--s);padding:0 14px;font:inherit;cursor:pointer}" +
    "form button:disabled{opacity:.5;cursor:default}" +
    ".gate{align-self:stretch;max-width:none;display:flex;flex-direction:column;gap:8px}" +
    ".gate button{align-self:flex-start;border:0;border-radius:8px;background:var(--p);color:var(--s);padding:6px 12px;font:inherit;cursor:pointer}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    ".card{align-self:stretch;max-width:none}.card b{display:block}.card p{margin:2px 0 6px}" +
    ".f{display:flex;flex-direction:column;gap:8px;padding:0;border:0;background:none}" +
    ".f label{display:flex;flex-direction:column;gap:2px;font-size:13px}" +
    ".f input,.f select,.f textarea{flex:none;width:100%;height:auto;border:1px solid #c9ced4;border-radius:8px;padding:6px 8px;font:inherit;background:#fff}" +
    ".f textarea{height:80px}.f [aria-invalid=true]{border-color:#c62828}" +
    ".f .req{color:#c62828}.f .fe{color:#8a1c14;font-size:12px}" +
    ".f button{align-self:flex-start;padding:6px 14px}";

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  }

  function sessionId() {
    var id = null;
    try { id = localStorage.getItem(key); } catch (e) { /* storage blocked */ }
    if (!id) {
      var bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      id = "w_" + Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
      try { localStorage.setItem(key, id); } catch (e) { /* kept for this page only */ }
    }
    return id;
  }

  var host = el("div");
  host.setAttribute("data-animam-widget", tenant);
  var root = host.attachShadow({ mode: "open" });
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
    // Constructed stylesheets are not inline styles: they work under a strict host CSP.
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el("style", null, CSS));
  }

  var launch = el("button", "launch");
  var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "26");
  svg.setAttribute("height", "26");
  svg.setAttribute("aria-hidden", "true");
  var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  launch.appendChild(svg);
  launch.type = "button";
  launch.setAttribute("aria-label", "Open chat");
  launch.setAttribute("aria-expanded", "false");
  var panel = el("section", "panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Chat");
  var head = el("header");
  var titles = el("div", "t");
  var nameEl = el("b", null, "Assistant");
  var titleEl = el("small");
  titles.appendChild(nameEl);
  titles.appendChild(titleEl);
  var badge = el("span", "ai", "AI");
  badge.title = "Answers are written by an AI assistant";
  var close = el("button", "x", "\u00D7");
  close.type = "button";
  close.setAttribute("aria-label", "Close chat");
  head.appendChild(titles);
  head.appendChild(badge);
  head.appendChild(close);
  var log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  var form = el("form");
  var label = el("label", "sr", "Your message");
  label.htmlFor = "animam-input";
  var input = el("textarea");
  input.id = "animam-input";
  input.placeholder = "Ask a question…";
  input.maxLength = 15000;
  var send = el("button", null, "Send");
  send.type = "submit";
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launch);

  var busy = false;
  var configured = false;

  function bubble(cls, text) {
    var m = el("div", "m " + cls, text);
    log.appendChild(m);
    log.scrollTop = log.scrollHeight;
    return m;
  }

  function apply(cfg) {
    host.style.setProperty("--p", cfg.primaryColor || "#4f46e5");
    host.style.setProperty("--s", cfg.secondaryColor || "#ffffff");
    nameEl.textContent = cfg.botName || "Assistant";
    titleEl.textContent = cfg.botTitle || "";
    badge.hidden = cfg.showAiBadge === false;
    if (cfg.segment && !segment) segment = cfg.segment;
    ageGate(cfg, function () { greet(cfg); });
  }

  /* The tenant's age gate: nothing can be sent until the visitor confirms, once per browser. */
  function ageGate(cfg, then) {
    var confirmed = "animam:age:" + tenant;
    var seen = null;
    try { seen = localStorage.getItem(confirmed); } catch (e) { /* storage blocked */ }
    if (!cfg.ageGateEnabled || seen === "1") {
      if (cfg.contentWarning) bubble("bot", cfg.contentWarning);
      then();
      return;
    }
    var min = cfg.ageGateMinAge || 18;
    input.disabled = true;
    send.disabled = true;
    var box = el("div", "m bot gate");
    box.appendChild(el("span", null, "This assistant is for visitors aged " + min + " or over."));
    if (cfg.contentWarning) box.appendChild(el("span", null, cfg.contentWarning));
    var ok = el("button", null, "I am " + min + " or older");
    ok.type = "button";
    ok.addEventListener("click", function () {
      try { localStorage.setItem(confirmed, "1"); } catch (e) { /* asked again next page */ }
      box.remove();
      input.disabled = false;
      send.disabled = false;
      input.focus();
      then();
    });
    box.appendChild(ok);
    log.appendChild(box);
  }

  function greet(cfg) {
    if (cfg.welcomeMessage) bubble("bot", cfg.welcomeMessage);
    var starters = cfg.conversationStarters || [];
    if (starters.length) {
      var box = el("div", "starters");
      starters.forEach(function (s) {
        var b = el("button", null, (s.emoji ? s.emoji + " " : "") + s.text);
        b.type = "button";
        b.addEventListener("click", function () { box.remove(); ask(s.text); });
        box.appendChild(b);
      });
      log.appendChild(box);
    }
  }

  function loadConfig() {
    if (configured) return;
    configured = true;
    var q = segment ? "?segment=" + encodeURIComponent(segment) : "";
    fetch(base + "/widget/config/" + encodeURIComponent(tenant) + q, { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
      .then(apply)
      .catch(function () { apply({}); });
  }

  function problem(text) {
    bubble("err", text);
  }

  function refusal(r) {
    return r.json().then(function (body) {
      if (body && body.code === "conversation_full") {
        // The server keeps conversations to a length: the next message starts a new one.
        try { localStorage.removeItem(key); } catch (e) { /* storage blocked */ }
        return "This conversation has reached its length limit; your next message starts a new one.";
      }
      return "The assistant cannot answer: " + (body && body.error ? body.error : "error " + r.status) + ".";
    }, function () { return "The assistant cannot answer (error " + r.status + ")."; });
  }

  function ask(text) {
    text = (text || "").trim();
    if (!text || busy) return;
    busy = true;
    send.disabled = true;
    bubble("me", text);
    var typing = el("div", "m bot typing");
    typing.setAttribute("aria-label", "The assistant is typing");
    typing.appendChild(el("span"));
    typing.appendChild(el("span"));
    typing.appendChild(el("span"));
    log.appendChild(typing);
    log.scrollTop = log.scrollHeight;
    var answer = null;
    function delta(t) {
      if (!answer) { typing.remove(); answer = bubble("bot", ""); }
      answer.textContent += t;
      log.scrollTop = log.scrollHeight;
    }
    function done() { typing.remove(); busy = false; send.disabled = false; input.focus(); }
    var body = { message: text, sessionId: sessionId(), stream: true, pageUrl: location.href.slice(0, 2000) };
    if (segment) body.segment = segment;
    fetch(base + "/chat/" + encodeURIComponent(tenant), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit"
    }).then(function (r) {
      if (!r.ok) return refusal(r).then(problem);
      if (!r.body || !r.body.getReader) {
        return r.text().then(function (all) { frames(all, delta); });
      }
      var reader = r.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (step) {
          if (step.done) { frames(buffer, delta); return; }
          buffer += decoder.decode(step.value, { stream: true });
          var cut = buffer.lastIndexOf("\n\n");
          if (cut >= 0) { frames(buffer.slice(0, cut), delta); buffer = buffer.slice(cut + 2); }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      problem("The assistant cannot be reached right now. Check your connection and try again.");
    }).then(done);
  }

  /* A reply's `form` (a SUBMIT_FORM tool: {toolId, name, description, fields, submitLabel}),
     drawn in the log and posted to the public submissions endpoint with the session id. */
  function showForm(spec) {
    if (!spec || !spec.toolId || !Array.isArray(spec.fields)) return;
    var card = el("div", "m bot card");
    if (spec.name) card.appendChild(el("b", null, spec.name));
    if (spec.description) card.appendChild(el("p", null, spec.description));
    var f = el("form", "f");
    f.noValidate = true;
    var controls = {};
    spec.fields.forEach(function (field) {
      var wrap = el("label");
      var caption = el("span", null, field.label || field.name);
      if (field.required) {
        var mark = el("span", "req", " *");
        mark.setAttribute("aria-hidden", "true");
        caption.appendChild(mark);
      }
      wrap.appendChild(caption);
      var c;
      if (field.type === "textarea") {
        c = el("textarea");
        c.maxLength = 5000;
      } else if (field.type === "select") {
        c = el("select");
        c.appendChild(el("option", null, ""));
        (field.options || []).forEach(function (o) {
          var opt = el("option", null, o);
          opt.value = o;
          c.appendChild(opt);
        });
      } else {
        c = el("input");
        c.type = field.type === "email" || field.type === "tel" ? field.type : "text";
        c.maxLength = field.type === "email" ? 254 : field.type === "tel" ? 40 : 500;
        if (field.type === "email") c.autocomplete = "email";
        if (field.type === "tel") c.autocomplete = "tel";
      }
      c.name = field.name;
      if (field.required) c.setAttribute("aria-required", "true");
      var fe = el("span", "fe");
      fe.setAttribute("role", "alert");
      wrap.appendChild(c);
      wrap.appendChild(fe);
      f.appendChild(wrap);
      controls[field.name] = { input: c, error: fe };
    });
    var general = el("span", "fe");
    general.setAttribute("role", "alert");
    var go = el("button", null, spec.submitLabel || "Send");
    go.type = "submit";
    f.appendChild(general);
    f.appendChild(go);
    card.appendChild(f);
    log.appendChild(card);
    log.scrollTop = log.scrollHeight;
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      var values = {};
      Object.keys(controls).forEach(function (name) {
        var c = controls[name];
        c.input.removeAttribute("aria-invalid");
        c.error.textContent = "";
        var v = c.input.value.trim();
        if (v) values[name] = v;
      });
      general.textContent = "";
      go.disabled = true;
      fetch(base + "/chat/" + encodeURIComponent(tenant) + "/submissions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sessionId: sessionId(), toolId: spec.toolId, values: values }),
        credentials: "omit"
      }).then(function (r) {
        if (r.status === 201) {
          card.textContent = "";
          card.appendChild(el("span", null, "Thank you! Your message has been sent."));
          return;
        }
        return r.json().then(function (body) {
          var text = body && body.error ? body.error : "error " + r.status;
          /* "values.email: must be ..." names the field to mark. */
          var m = /^values\.([A-Za-z0-9_]+): (.*)$/.exec(text);
          if (m && controls[m[1]]) {
            controls[m[1]].input.setAttribute("aria-invalid", "true");
            controls[m[1]].error.textContent = m[2];
            controls[m[1]].input.focus();
          } else {
            general.textContent = "Not sent: " + text + ".";
          }
        }, function () { general.textContent = "Not sent (error " + r.status + ")."; });
      }).catch(function () {
        general.textContent = "Not sent: the server cannot be reached. Try again.";
      }).then(function () { go.disabled = false; });
    });
  }

  /* SSE frames: "event: delta|done|error" then "data: {json}". */
  function frames(text, delta) {
    text.split("\n\n").forEach(function (frame) {
      var event = "message", data = "";
      frame.split("\n").forEach(function (line) {
        if (line.indexOf("event:") === 0) event = line.slice(6).trim();
        else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
      });
      if (!data) return;
      var value;
      try { value = JSON.parse(data); } catch (e) { return; }
      if (event === "delta" && value.text) delta(value.text);
      else if (event === "done" && value.form) showForm(value.form);
      else if (event === "error") problem("The assistant stopped: " + (value.error || "unknown error") + ".");
    });
  }

  function toggle(open) {
    panel.hidden = !open;
    launch.setAttribute("aria-expanded", String(open));
    launch.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    if (open) { loadConfig(); input.focus(); } else { launch.focus(); }
  }

  launch.addEventListener("click", function () { toggle(panel.hidden); });
  close.addEventListener("click", function () { toggle(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") toggle(false); });
  form.addEventListener("submit", function (e) { e.preventDefault(); var t = input.value; input.value = ""; ask(t); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); }
  });

  function mount() { document.body.appendChild(host); loadConfig(); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);

  window.AnimamWidget = {
    open: function () { toggle(true); },
    close: function () { toggle(false); },
    ask: function (text) { toggle(true); ask(text); },
    /* Shows a form as a reply's `form` would, e.g. from a "Contact us" link on the page. */
    showForm: function (spec) { toggle(true); showForm(spec); }
  };
})();
