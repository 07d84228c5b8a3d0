//! In a real browser (headless Chromium through chromedriver): sign in, create a token and
//! read it once, revoke it, import a CSV, and ask the widget on the preview page a question
//! whose streamed answer comes from the imported entry. Screenshots of the main pages go to
//! `target/tmp/screenshots/`.

use std::path::PathBuf;
use std::time::Instant;

use crate::support::Server;
use crate::support::webdriver::Browser;

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
}

const WIDGET: &str = "document.querySelector('[data-animam-widget]')";

/// Opens `url` until its page shows `text`. Under a loaded machine the document read right
/// after a navigation was, rarely, still the previous one; a page that never shows the text
/// still fails, after 20 s.
fn showing(browser: &Browser, url: &str, text: &str) {
    browser.wait_for(&format!("{text:?} on {url}"), || {
        browser.goto(url);
        browser.source().contains(text).then_some(())
    });
}

/// Form controls of the current page without a label (none may lack one).
fn unlabelled(browser: &Browser) -> Vec<String> {
    let found = browser.execute(
        "return Array.from(document.querySelectorAll('input, select, textarea'))
           .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
           .map(e => e.outerHTML);",
        vec![],
    );
    serde_json::from_value(found).unwrap_or_default()
}

/// Visits each page, checks its labels, and that it fits a phone's width without sideways
/// scrolling (wide tables scroll inside their own box).
fn check_pages(browser: &Browser, base: &str) {
    let pages = [
        "",
        "/tokens",
        "/corpus",
        "/corpus/new",
        "/corpus/import",
        "/conversations",
        "/segments",
        "/settings",
        "/preview",
    ];
    for page in pages {
        browser.goto(&format!("{base}/dashboard/acme{page}"));
        assert_eq!(
            unlabelled(browser),
            Vec::<String>::new(),
            "labels on {page}"
        );
    }
    browser.set_window(390, 844);
    for page in pages {
        browser.goto(&format!("{base}/dashboard/acme{page}"));
        let overflow = browser.execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        );
        if overflow != 0 {
            // Name the elements sticking out of a box that fits, to say what to fix.
            let wide = browser.execute(
                "const w = document.documentElement.clientWidth + 1;
                 return Array.from(document.querySelectorAll('body *'))
                   .filter(e => e.getBoundingClientRect().right > w
                             && e.parentElement.getBoundingClientRect().right <= w)
                   .slice(0, 5).map(e => e.tagName + '.' + e.className);",
                vec![],
            );
            panic!("{page} scrolls sideways on a phone by {overflow}px: {wide}");
        }
    }
    browser.goto(&format!("{base}/dashboard/acme/corpus"));
    browser.screenshot(&shots().join("phone-knowledge-base.png"));
    browser.set_window(1280, 900);
}

#[test]
fn dashboard_and_widget_in_a_real_browser() {
    let started = Instant::now();
    let server = Server::start();
    let browser = Browser::start();
    let base = &server.base;

    // Sign in by pasting the token.
    browser.goto(&format!("{base}/dashboard"));
    let input = browser.find("#token");
    browser.type_text(&input, &server.admin);
    browser.click(&browser.find("form button[type=submit]"));
    browser.wait_for("the overview", || {
        if browser.url().ends_with("/dashboard/-/sign-in") {
            panic!("sign-in refused: {}", browser.source());
        }
        browser.url().ends_with("/dashboard/acme").then_some(())
    });
    assert!(browser.source().contains("Get started"), "first-run page");
    browser.screenshot(&shots().join("first-run.png"));

    // Create a token with one scope; its secret is shown once.
    browser.goto(&format!("{base}/dashboard/acme/tokens"));
    browser.type_text(&browser.find("#name"), "Browser token");
    browser.click(&browser.find("#scope-corpus-read"));
    browser.click(&browser.find("#create button[type=submit]"));
    let secret_field = browser.find("#secret");
    let secret = browser.property(&secret_field, "value");
    let secret = secret.as_str().unwrap().to_string();
    assert!(secret.starts_with("ak_"), "{secret}");
    assert!(browser.source().contains("will not be shown again"));
    browser.screenshot(&shots().join("token-created.png"));
    assert_eq!(server.get("/tenants/acme/corpus", &secret).status, 200);
    browser.click(&browser.find("a.button"));
    browser.wait_for("the token list", || {
        browser
            .url()
            .ends_with("/dashboard/acme/tokens")
            .then_some(())
    });
    let list = browser.source();
    assert!(list.contains("Browser token") && !list.contains(&secret));
    browser.screenshot(&shots().join("tokens.png"));

    // Revoke it behind the confirmation page.
    browser.click(&browser.find(r#"a[aria-label="Revoke Browser token"]"#));
    assert!(browser.source().contains("cannot be undone"));
    browser.click(&browser.find("button.danger"));
    browser.wait_for("the revocation", || {
        browser.url().contains("done=revoked").then_some(())
    });
    assert_eq!(server.get("/tenants/acme/corpus", &secret).status, 401);

    // Import a CSV file (with a BOM, as spreadsheets save it): preview, then import.
    let file = server.root.path().join("faq.csv");
    std::fs::write(
        &file,
        "\u{feff}title,content,segment,priority,tags\r\nOpening hours,The shop is open from 9 to 18 on weekdays and closed on Sundays.,,5,hours\r\n",
    )
    .unwrap();
    browser.goto(&format!("{base}/dashboard/acme/corpus/import"));
    browser.type_text(&browser.find("#file"), &file.display().to_string());
    browser.wait_for("the file in the text area", || {
        let text = browser.execute("return document.getElementById('csv').value;", vec![]);
        text.as_str()
            .is_some_and(|t| t.starts_with("title,") && t.contains("Opening hours"))
            .then_some(())
    });
    browser.click(&browser.find(r#"button[value="preview"]"#));
    browser.wait_for("the preview", || {
        browser
            .source()
            .contains("1 of 1 rows are ready")
            .then_some(())
    });
    browser.click(&browser.find(r#"button[value="import"]"#));
    browser.wait_for("the import", || {
        browser
            .source()
            .contains("Imported 1 entries")
            .then_some(())
    });
    showing(
        &browser,
        &format!("{base}/dashboard/acme/corpus"),
        "Opening hours",
    );
    browser.screenshot(&shots().join("knowledge-base.png"));

    // The widget on the preview page answers from that entry, streamed.
    browser.goto(&format!("{base}/dashboard/acme/preview"));
    let launcher = browser.find_by_script(
        "the widget launcher",
        &format!("var w = {WIDGET}; return w && w.shadowRoot.querySelector('.launch');"),
    );
    browser.click(&launcher);
    let input = browser.find_by_script(
        "the widget input",
        &format!("return {WIDGET}.shadowRoot.querySelector('textarea');"),
    );
    browser.type_text(&input, "When is the shop open?\u{E007}");
    let answer = browser.wait_for("the streamed answer", || {
        let text = browser.execute(
            &format!(
                "var b = {WIDGET}.shadowRoot.querySelectorAll('.m.bot:not(.typing)'); \
                 return b.length ? b[b.length - 1].textContent : '';"
            ),
            vec![],
        );
        let text = text.as_str().unwrap_or_default().to_string();
        text.contains("9 to 18").then_some(text)
    });
    assert!(answer.contains("open"), "{answer}");
    // Deltas arrive before the exchange is stored; the final frame only after: wait for the
    // widget to take input again before reading the conversation elsewhere.
    browser.wait_for("the end of the answer", || {
        let idle = browser.execute(
            &format!(
                "var r = {WIDGET}.shadowRoot;                  return !r.querySelector('.typing') && !r.querySelector('form button').disabled;"
            ),
            vec![],
        );
        (idle == true).then_some(())
    });
    let errors = browser.execute(
        &format!("return {WIDGET}.shadowRoot.querySelectorAll('.err').length;"),
        vec![],
    );
    assert_eq!(errors, 0, "no error bubble");
    // The host page keeps one global and its own styles.
    assert_eq!(
        browser.execute("return typeof window.AnimamWidget.ask;", vec![]),
        "function"
    );
    browser.screenshot(&shots().join("widget.png"));

    // Settings: the live preview follows the form (script from the binary, under the CSP).
    browser.goto(&format!("{base}/dashboard/acme/settings"));
    let name = browser.find("#botName");
    browser.execute("arguments[0].value = '';", vec![name.0.clone()]);
    browser.type_text(&name, "Max");
    browser.wait_for("the preview name", || {
        let shown = browser.execute(
            "return document.getElementById('mock-name').textContent;",
            vec![],
        );
        (shown == "Max").then_some(())
    });
    browser.screenshot(&shots().join("settings.png"));
    showing(
        &browser,
        &format!("{base}/dashboard/acme/conversations"),
        "When is the shop open?",
    );
    browser.screenshot(&shots().join("conversations.png"));
    check_pages(&browser, base);
    let conversations = server
        .get("/tenants/acme/conversations", &server.admin)
        .json();
    assert_eq!(conversations["conversations"][0]["channel"], "widget");
    eprintln!(
        "browser test took {:.1} s (screenshots in {})",
        started.elapsed().as_secs_f64(),
        shots().display()
    );
}

/// Serves one HTML page, with the given CSP, on a port of its own (another origin).
fn host_page(html: String, csp: String) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buffer = [0u8; 8192];
            let _ = stream.read(&mut buffer);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Security-Policy: {csp}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    // `localhost` here, `127.0.0.1` for animam: two origins, so the widget goes through CORS.
    format!("http://localhost:{port}/")
}

#[test]
fn widget_on_another_site_under_a_strict_csp() {
    let server = Server::start();
    server.corpus(&serde_json::json!({
        "title": "Delivery",
        "content": "Parcels are delivered within three working days."
    }));
    server.patch(
        "/tenants/acme",
        &server.admin,
        &serde_json::json!({"botName": "Max", "primaryColor": "#0a7d33"}),
    );
    server.patch(
        "/tenants/acme/segments/general",
        &server.admin,
        &serde_json::json!({
            "welcomeMessage": "Hi! Ask me about delivery.",
            "conversationStarters": [{"text": "How long does delivery take?"}]
        }),
    );
    let csp = format!(
        "default-src 'none'; script-src {0}; connect-src {0}; style-src 'none'",
        server.base
    );
    let page = format!(
        "<!doctype html><html><head><title>Shop</title></head><body><h1>Shop</h1>\
         <script src=\"{}/widget.js\" data-tenant=\"acme\" defer></script></body></html>",
        server.base
    );
    let url = host_page(page, csp);
    let browser = Browser::start();
    browser.goto(&url);
    let launcher = browser.find_by_script(
        "the widget launcher",
        &format!("var w = {WIDGET}; return w && w.shadowRoot.querySelector('.launch');"),
    );
    // The tenant's colours and name arrived through CORS, and the constructed stylesheet
    // applies although the page allows no style at all.
    browser.wait_for("the tenant's name", || {
        let name = browser.execute(
            &format!("return {WIDGET}.shadowRoot.querySelector('header b').textContent;"),
            vec![],
        );
        (name == "Max").then_some(())
    });
    let colour = browser.execute(
        &format!(
            "return getComputedStyle({WIDGET}.shadowRoot.querySelector('.launch')).backgroundColor;"
        ),
        vec![],
    );
    assert_eq!(colour, "rgb(10, 125, 51)");
    assert_eq!(
        browser.execute(
            "return Object.keys(window).filter(k => k.startsWith('Animam'));",
            vec![]
        ),
        serde_json::json!(["AnimamWidget"])
    );
    browser.click(&launcher);
    // The segment's welcome message and starter; the starter asks its question.
    let welcome = browser.execute(
        &format!("return {WIDGET}.shadowRoot.querySelector('.m.bot').textContent;"),
        vec![],
    );
    assert_eq!(welcome, "Hi! Ask me about delivery.");
    let starter = browser.find_by_script(
        "the conversation starter",
        &format!("return {WIDGET}.shadowRoot.querySelector('.starters button');"),
    );
    browser.click(&starter);
    let last_bot = format!(
        "var b = {WIDGET}.shadowRoot.querySelectorAll('.m.bot:not(.typing), .m.err'); \
         return b.length ? b[b.length - 1].textContent : '';"
    );
    browser.wait_for("the answer", || {
        let text = browser.execute(&last_bot, vec![]);
        text.as_str()
            .unwrap_or_default()
            .contains("three working days")
            .then_some(())
    });
    let session: String = browser
        .execute(
            "return localStorage.getItem('animam:session:acme');",
            vec![],
        )
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(session.starts_with("w_"), "{session}");

    // A refusal is told plainly: the tenant's conversation quota is used up.
    server.patch(
        "/tenants/acme",
        &server.admin,
        &serde_json::json!({"conversationsLimit": 1}),
    );
    browser.execute("localStorage.clear();", vec![]);
    browser.goto(&url);
    let launcher = browser.find_by_script(
        "the widget launcher",
        &format!("var w = {WIDGET}; return w && w.shadowRoot.querySelector('.launch');"),
    );
    browser.click(&launcher);
    let input = browser.find_by_script(
        "the widget input",
        &format!("return {WIDGET}.shadowRoot.querySelector('textarea');"),
    );
    browser.type_text(&input, "Hello?\u{E007}");
    browser.wait_for("the refusal", || {
        let text = browser.execute(
            &format!("var e = {WIDGET}.shadowRoot.querySelector('.m.err'); return e ? e.textContent : '';"),
            vec![],
        );
        text.as_str()
            .unwrap_or_default()
            .contains("Conversation limit reached")
            .then_some(())
    });
}

#[test]
fn the_age_gate_holds_the_conversation_until_the_visitor_confirms() {
    let server = Server::start();
    server.patch(
        "/tenants/acme",
        &server.admin,
        &serde_json::json!({
            "contentPolicy": "MODERATE", "ageGateEnabled": true, "ageGateMinAge": 21,
            "contentWarning": "Talks about wine."
        }),
    );
    server.patch(
        "/tenants/acme/segments/general",
        &server.admin,
        &serde_json::json!({"welcomeMessage": "Hi! Ask me about our wines."}),
    );
    let csp = format!(
        "default-src 'none'; script-src {0}; connect-src {0}; style-src 'none'",
        server.base
    );
    let page = format!(
        "<!doctype html><html><head><title>Cellar</title></head><body>\
         <script src=\"{}/widget.js\" data-tenant=\"acme\" defer></script></body></html>",
        server.base
    );
    let url = host_page(page, csp);
    let browser = Browser::start();
    browser.goto(&url);
    // The gate is drawn as soon as the configuration arrives, before the panel opens.
    browser.find_by_script(
        "the age gate",
        &format!("var w = {WIDGET}; return w && w.shadowRoot.querySelector('.gate');"),
    );
    let launcher = browser.find_by_script(
        "the widget launcher",
        &format!("return {WIDGET}.shadowRoot.querySelector('.launch');"),
    );
    browser.click(&launcher);
    let state = format!(
        "var r = {WIDGET}.shadowRoot; return [r.querySelector('.gate') ? r.querySelector('.gate').textContent : '', \
         r.querySelector('textarea').disabled, r.querySelectorAll('.m.bot:not(.gate)').length];"
    );
    let before = browser.execute(&state, vec![]);
    let text = before[0].as_str().unwrap_or_default();
    assert!(
        text.contains("aged 21 or over") && text.contains("Talks about wine."),
        "{text}"
    );
    assert_eq!(before[1], true, "nothing can be sent before confirming");
    assert_eq!(before[2], 0, "no welcome before confirming");
    let confirm = browser.find_by_script(
        "the confirm button",
        &format!("return {WIDGET}.shadowRoot.querySelector('.gate button');"),
    );
    browser.click(&confirm);
    let after = browser.execute(&state, vec![]);
    assert_eq!(after[0], "", "the gate is gone");
    assert_eq!(after[1], false, "the visitor can type");
    let welcome = browser.execute(
        &format!("return {WIDGET}.shadowRoot.querySelector('.m.bot').textContent;"),
        vec![],
    );
    assert_eq!(welcome, "Hi! Ask me about our wines.");
    assert_eq!(
        browser.execute("return localStorage.getItem('animam:age:acme');", vec![]),
        "1",
        "asked once per browser"
    );
}

#[test]
fn the_widget_draws_a_form_shows_field_errors_and_submits_it() {
    let server = Server::start();
    let r = server.post(
        "/tenants/acme/tools",
        &server.admin,
        &serde_json::json!({"name": "Contact", "type": "SUBMIT_FORM", "config": {
        "submitLabel": "Send it",
        "fields": [
            {"name": "name", "label": "Your name", "type": "text", "required": true},
            {"name": "email", "label": "Email", "type": "email", "required": true},
            {"name": "topic", "label": "Topic", "type": "select", "options": ["Sales", "Support"]},
            {"name": "message", "label": "Message", "type": "textarea"}
        ]}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let tool = r.json()["id"].as_str().unwrap().to_string();
    let page = format!(
        "<!doctype html><html><head><title>Shop</title></head><body><h1>Shop</h1>\
         <script src=\"{}/widget.js\" data-tenant=\"acme\" defer></script></body></html>",
        server.base
    );
    let csp = format!(
        "default-src 'none'; script-src {0}; connect-src {0}; style-src 'none'",
        server.base
    );
    let browser = Browser::start();
    browser.goto(&host_page(page, csp));
    browser.find_by_script(
        "the widget launcher",
        &format!("var w = {WIDGET}; return w && w.shadowRoot.querySelector('.launch');"),
    );
    // The shape of a chat reply's `form`.
    let spec = serde_json::json!({
        "toolId": tool, "name": "Contact us", "description": "We answer within a day.",
        "submitLabel": "Send it",
        "fields": [
            {"name": "name", "label": "Your name", "type": "text", "required": true},
            {"name": "email", "label": "Email", "type": "email", "required": true},
            {"name": "topic", "label": "Topic", "type": "select", "options": ["Sales", "Support"]},
            {"name": "message", "label": "Message", "type": "textarea"}
        ]
    });
    browser.execute("window.AnimamWidget.showForm(arguments[0]);", vec![spec]);
    let card = format!("{WIDGET}.shadowRoot.querySelector('.card')");
    let name = browser.find_by_script(
        "the form's name field",
        &format!("var c = {card}; return c && c.querySelector('[name=name]');"),
    );
    let drawn = browser.execute(
        &format!(
            "var c = {card}; return [c.querySelector('b').textContent, \
             c.querySelector('[name=email]').type, c.querySelector('[name=message]').tagName, \
             Array.from(c.querySelectorAll('[name=topic] option')).map(o => o.value).join('|'), \
             c.querySelectorAll('.req').length, c.querySelector('button').textContent, \
             Array.from(c.querySelectorAll('input, select, textarea')).filter(e => e.labels.length === 0).length];"
        ),
        vec![],
    );
    assert_eq!(
        drawn,
        serde_json::json!([
            "Contact us",
            "email",
            "TEXTAREA",
            "|Sales|Support",
            2,
            "Send it",
            0
        ])
    );
    browser.type_text(&name, "Ada");
    let email = browser.find_by_script(
        "the email field",
        &format!("return {card}.querySelector('[name=email]');"),
    );
    browser.type_text(&email, "not-an-address");
    let submit = browser.find_by_script(
        "the form's button",
        &format!("return {card}.querySelector('button');"),
    );
    browser.click(&submit);
    // The server's 400 names values.email: the widget marks that field.
    browser.wait_for("the email error", || {
        let state = browser.execute(
            &format!(
                "var e = {card}.querySelector('[name=email]'); \
                 return [e.getAttribute('aria-invalid'), e.parentElement.querySelector('.fe').textContent];"
            ),
            vec![],
        );
        (state[0] == "true").then_some(state)
    });
    browser.screenshot(&shots().join("widget-form-error.png"));
    browser.execute(
        &format!("{card}.querySelector('[name=email]').value = '';"),
        vec![],
    );
    browser.type_text(&email, "ada@example.com");
    browser.execute(
        &format!("{card}.querySelector('[name=topic]').value = 'Support';"),
        vec![],
    );
    browser.click(&submit);
    browser.wait_for("the thank-you", || {
        let text = browser.execute(
            &format!("var c = {WIDGET}.shadowRoot.querySelector('.card'); return c.textContent;"),
            vec![],
        );
        text.as_str()
            .unwrap_or_default()
            .contains("Thank you")
            .then_some(())
    });
    browser.screenshot(&shots().join("widget-form.png"));
    let list = server
        .get("/tenants/acme/submissions", &server.admin)
        .json();
    assert_eq!(list["total"], 1, "{list}");
    let stored = &list["submissions"][0];
    assert_eq!(stored["values"]["email"], "ada@example.com");
    assert_eq!(stored["values"]["topic"], "Support");
    assert!(
        stored["sessionId"].as_str().unwrap().starts_with("w_"),
        "{stored}"
    );
}
