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

/// The multi-tenant guide: a parent creates children with its `*` token and reaches their
/// routes with the scopes its tokens hold; a child's tokens never reach the parent or a
/// sibling; other tenants see none of it, across a restart.
#[test]
fn parents_reach_their_children_and_children_reach_nothing_else() {
    let mut server = Server::start();
    let parent_id = server.get("/tenants/acme", &server.admin).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = server.post(
        "/tenants",
        &server.admin,
        &json!({"slug": "acme-fr", "name": "Acme France", "parentId": parent_id}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["parentId"], parent_id.as_str());
    server.post("/tenants", &server.admin, &json!({"slug": "acme-de"}));
    let (_, reader) = server.token(&["settings:read", "corpus:read"]);
    // Only a `*` token creates children; parentId must be the caller's own tenant.
    let r = server.post("/tenants", &reader, &json!({"slug": "acme-it"}));
    assert_eq!(r.status, 403, "{}", r.text);
    server
        .post(
            "/tenants",
            &server.admin,
            &json!({"slug": "acme-it", "parentId": "ten_other"}),
        )
        .assert_error(
            400,
            "parentId: must be the id of the caller's own tenant",
            "validation_failed",
        );
    server
        .post("/tenants", &server.admin, &json!({"slug": "Not A Slug"}))
        .assert_error(
            400,
            "slug: must be 2-63 characters of a-z, 0-9 and -, starting with a letter or digit",
            "validation_failed",
        );
    assert_eq!(
        server
            .post("/tenants", &server.admin, &json!({"slug": "acme-fr"}))
            .status,
        409
    );

    let children = server.get("/tenants", &server.admin).json();
    let slugs: Vec<&str> = children["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme-de", "acme-fr"]);
    assert_eq!(
        server.get("/tenants", &server.other_admin).json()["tenants"],
        json!([]),
        "another tenant sees only its own children"
    );

    // The parent's tokens reach the child with the scopes they hold.
    let r = server.post(
        "/tenants/acme-fr/corpus",
        &server.admin,
        &json!({"title": "Livraison", "content": "Sous 3 jours."}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(server.get("/tenants/acme-fr/corpus", &reader).status, 200);
    let r = server.post(
        "/tenants/acme-fr/corpus",
        &reader,
        &json!({"title": "x", "content": "y"}),
    );
    assert_eq!(r.status, 403);
    // The parent mints a token for the child; it works there and nowhere else.
    let r = server.post(
        "/tenants/acme-fr/tokens",
        &server.admin,
        &json!({"name": "fr", "scopes": ["*"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let child = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(
        server.get("/tenants/acme-fr/corpus", &child).json()["pagination"]["total"],
        1
    );
    for elsewhere in ["/tenants/acme", "/tenants/acme-de", "/tenants/other"] {
        server
            .get(elsewhere, &child)
            .assert_error(404, "Tenant not found", "tenant_not_found");
    }
    assert_eq!(
        server
            .post("/tenants", &child, &json!({"slug": "grandchild"}))
            .status,
        400
    );
    // Other tenants stay out, and the parent map survives a restart.
    server
        .get("/tenants/acme-fr/corpus", &server.other_admin)
        .assert_error(404, "Tenant not found", "tenant_not_found");
    server.restart();
    assert_eq!(
        server.get("/tenants/acme-fr/corpus", &server.admin).status,
        200
    );
    assert_eq!(server.get("/tenants/acme", &child).status, 404);
}
