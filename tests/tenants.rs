//! Tenant settings over HTTP.

use serde_json::json;

use crate::support::Server;

#[test]
fn new_tenant_defaults_and_partial_updates() {
    let server = Server::start();
    let t = server.get("/tenants/acme", &server.admin).json();
    assert_eq!(t["slug"], "acme");
    assert_eq!(t["plan"], "self-hosted");
    assert_eq!(t["isActivated"], true);
    assert_eq!(t["conversationsLimit"], json!(null));
    assert_eq!(t["contentPolicy"], "SFW");
    assert_eq!(t["allowedDomains"], json!([]));
    for key in [
        "id",
        "name",
        "botName",
        "botTitle",
        "botLore",
        "botTone",
        "useTutoiement",
        "allowEmojis",
        "primaryColor",
        "secondaryColor",
        "showAiBadge",
        "conversationsUsed",
        "createdAt",
        "updatedAt",
    ] {
        assert!(t.get(key).is_some(), "missing {key}");
    }

    let r = server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"botName": "Max", "allowedDomains": ["*.acme.com", "localhost:3000"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = server.call(
        "PUT",
        "/tenants/acme",
        &server.admin,
        Some(&json!({"botTone": "FRIENDLY"})),
    );
    assert_eq!(r.status, 200);
    let t = r.json();
    assert_eq!(t["botName"], "Max", "PUT is partial too");
    assert_eq!(t["botTone"], "FRIENDLY");
    assert_eq!(t["allowedDomains"], json!(["*.acme.com", "localhost:3000"]));
    assert_eq!(
        server.get("/tenants/acme", &server.admin).json(),
        t,
        "persisted"
    );
}

#[test]
fn invalid_settings_are_400s_naming_the_field() {
    let server = Server::start();
    for (body, message) in [
        (
            json!({"botTone": "ANGRY"}),
            "botTone: must be one of FORMAL, NEUTRAL, FRIENDLY, PLAYFUL, TECHNICAL",
        ),
        (
            json!({"contentPolicy": "NSFW"}),
            "contentPolicy: must be one of SFW_STRICT, SFW, MODERATE, UNFILTERED",
        ),
        (
            json!({"primaryColor": "blue"}),
            "primaryColor: must be a colour like #1a2b3c",
        ),
        (json!({"slug": "other"}), "slug: is read-only"),
        (
            json!({"conversationsUsed": 3}),
            "conversationsUsed: is read-only",
        ),
        (json!({"name": ""}), "name: must be 1 to 100 characters"),
        (
            json!({"showAiBadge": "no"}),
            "showAiBadge: must be true or false",
        ),
        (json!({"whatever": 1}), "whatever: unknown field"),
    ] {
        server
            .patch("/tenants/acme", &server.admin, &body)
            .assert_error(400, message, "validation_failed");
    }
    let r = server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"allowedDomains": ["https://acme.com"]}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("allowedDomains[0]: ")
    );
    let r = server.call(
        "PATCH",
        "/tenants/acme",
        &server.admin,
        Some(&json!(["not", "an", "object"])),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        server.get("/tenants/acme", &server.admin).json()["botTone"],
        "NEUTRAL",
        "nothing applied"
    );
}

/// The hosted API's content-policy, appearance and voice settings: the content policy guide's
/// own PATCH body is accepted, kept across a restart, shown by GET and, for what the widget
/// needs, by the public widget configuration.
#[test]
fn hosted_api_settings_are_stored_shown_and_reach_the_widget() {
    let mut server = Server::start();
    let t = server.get("/tenants/acme", &server.admin).json();
    assert_eq!(t["ageGateEnabled"], false);
    assert_eq!(t["ageGateMinAge"], 18);
    assert_eq!(t["contentWarning"], json!(null));
    assert_eq!(t["visitorAuthMode"], json!(null));
    assert_eq!(t["voiceConfig"], json!(null));
    let r = server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({
            "contentPolicy": "MODERATE",
            "ageGateEnabled": true,
            "ageGateMinAge": 21,
            "contentWarning": "This assistant discusses mature themes."
        }),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({
            "botAvatar": "https://cdn.example.com/max.png",
            "visitorAuthMode": "jwt",
            "bookingCtaEnabled": true,
            "voiceEnabled": true,
            "voiceProvider": "vapi",
            "voicePhoneNumber": "+14155550123",
            "voiceAssistantId": "asst_123",
            "voiceConfig": {"voiceId": "rachel", "language": "en-US",
                            "firstMessage": "Hi, how can I help?",
                            "endCallPhrases": ["goodbye"], "maxCallDuration": 600}
        }),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = server.patch(
        "/tenants/acme",
        &server.admin,
        &json!({"voicePhoneNumber": "555-0123"}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("voicePhoneNumber: ")
    );

    server.restart();
    let t = server.get("/tenants/acme", &server.admin).json();
    assert_eq!(t["contentPolicy"], "MODERATE");
    assert_eq!(t["ageGateMinAge"], 21);
    assert_eq!(t["visitorAuthMode"], "jwt");
    assert_eq!(t["voicePhoneNumber"], "+14155550123");
    assert_eq!(t["voiceConfig"]["endCallPhrases"], json!(["goodbye"]));

    let widget = server.get("/widget/config/acme", "").json();
    assert_eq!(widget["contentPolicy"], "MODERATE");
    assert_eq!(widget["ageGateEnabled"], true);
    assert_eq!(widget["ageGateMinAge"], 21);
    assert_eq!(
        widget["contentWarning"],
        "This assistant discusses mature themes."
    );
    assert_eq!(widget["botAvatar"], "https://cdn.example.com/max.png");
    assert!(
        widget.get("voicePhoneNumber").is_none(),
        "not for the public"
    );
}
