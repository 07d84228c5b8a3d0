//! Form submissions and their webhook outbox. A submission and its delivery job are written in
//! one transaction: once the visitor has been answered 201, neither the submission nor the
//! promise to deliver it can be lost, whatever happens to the process afterwards. The delivery
//! worker (`api::webhooks`) takes due jobs from the outbox and reports each attempt back here.

use std::collections::BTreeSet;

use super::engine::ReadTxn;
use serde::{Deserialize, Serialize};

use super::tables::{
    CONVERSATION_SESSIONS, CONVERSATIONS, SUBMISSIONS, TOOLS, VISITORS, WEBHOOK_OUTBOX,
    WEBHOOK_SECRETS,
};
use super::writer::Tx;
use super::{
    Store, StoreError, StoreResult, audit, decode, encode, tenant_records, tenant_rows, tenants,
};
use crate::clock::Timestamp;
use crate::domain::submission::{form_fields, validate_values, webhook_url};
use crate::domain::{
    Actor, AuditAction, Conversation, DeliveryStatus, NewAudit, NewSubmission, Submission, Tool,
    ToolType, WebhookDelivery,
};
use crate::ids::new_id;

/// A delivery still to attempt, as kept in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct OutboxJob {
    /// The tool's webhook when the form was submitted: a later change of the tool's
    /// configuration does not redirect submissions already made.
    url: String,
}

/// A delivery whose time has come, with what the worker needs to make it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueWebhook {
    pub tenant: String,
    pub due: Timestamp,
    pub url: String,
    pub submission: Submission,
}

/// One page of a tenant's submissions, newest first, and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionPage {
    pub submissions: Vec<Submission>,
    pub total: usize,
}

fn load(tx: &Tx<'_>, tenant: &str, id: &str) -> StoreResult<Option<Submission>> {
    let table = tx.txn.open_table(SUBMISSIONS)?;
    let found = match table.get((tenant, id))? {
        Some(v) => Some(decode("submissions", (tenant, id), v.value())?),
        None => None,
    };
    Ok(found)
}

fn save(tx: &Tx<'_>, tenant: &str, submission: &Submission) -> StoreResult<()> {
    tx.txn.open_table(SUBMISSIONS)?.insert(
        (tenant, submission.id.as_str()),
        encode(submission)?.as_slice(),
    )?;
    Ok(())
}

/// The conversation of `session`, if the visitor has chatted in it.
fn conversation_of_session(
    tx: &Tx<'_>,
    tenant: &str,
    session: &str,
) -> StoreResult<Option<Conversation>> {
    let id = tx
        .txn
        .open_table(CONVERSATION_SESSIONS)?
        .get((tenant, session))?
        .map(|v| v.value().to_string());
    let Some(id) = id else { return Ok(None) };
    conversation(tx, tenant, &id)
}

fn conversation(tx: &Tx<'_>, tenant: &str, id: &str) -> StoreResult<Option<Conversation>> {
    let table = tx.txn.open_table(CONVERSATIONS)?;
    let found = match table.get((tenant, id))? {
        Some(v) => Some(decode("conversations", (tenant, id), v.value())?),
        None => None,
    };
    Ok(found)
}

/// Removes a tenant's submissions, pending deliveries and signing secret, for the deletion of
/// the tenant.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) fn remove_tenant_rows(tx: &Tx<'_>, tenant: &str) -> StoreResult<()> {
    let ids: Vec<String> = {
        let table = tx.txn.open_table(SUBMISSIONS)?;
        tenant_rows(&table, tenant)?
            .map(|row| row.map(|(id, _)| id))
            .collect::<StoreResult<_>>()?
    };
    let mut submissions = tx.txn.open_table(SUBMISSIONS)?;
    for id in &ids {
        submissions.remove((tenant, id.as_str()))?;
    }
    let mut outbox = tx.txn.open_table(WEBHOOK_OUTBOX)?;
    outbox.retain(|(_, t, _), _| t != tenant)?;
    tx.txn.open_table(WEBHOOK_SECRETS)?.remove(tenant)?;
    Ok(())
}

/// Removes the submissions of a visitor being deleted (what they typed into a form is theirs
/// as much as their conversations), with their pending deliveries.
pub(super) fn remove_visitor_rows(tx: &Tx<'_>, tenant: &str, visitor: &str) -> StoreResult<()> {
    let ids: Vec<String> = {
        let table = tx.txn.open_table(SUBMISSIONS)?;
        let mut ids = Vec::new();
        for row in tenant_records(&table, tenant)? {
            let (id, s): (String, Submission) = row?;
            if s.visitor_id.as_deref() == Some(visitor) {
                ids.push(id);
            }
        }
        ids
    };
    if ids.is_empty() {
        return Ok(());
    }
    let mut submissions = tx.txn.open_table(SUBMISSIONS)?;
    for id in &ids {
        submissions.remove((tenant, id.as_str()))?;
    }
    tx.txn
        .open_table(WEBHOOK_OUTBOX)?
        .retain(|(_, t, id), _| t != tenant || !ids.iter().any(|i| i == id))?;
    Ok(())
}

/// A tenant's submissions, oldest first, optionally of one tool, with conversations linked.
fn scan(txn: &ReadTxn, tenant: &str, tool_id: Option<&str>) -> StoreResult<Vec<Submission>> {
    let table = txn.open_table(SUBMISSIONS)?;
    let mut found = Vec::new();
    for row in tenant_records(&table, tenant)? {
        let (_, mut s): (String, Submission) = row?;
        if tool_id.is_none_or(|t| t == s.tool_id) {
            link_later_conversation(txn, tenant, &mut s)?;
            found.push(s);
        }
    }
    Ok(found)
}

/// A form submitted during a session's first turn (the model calling SUBMIT_FORM before the
/// exchange is stored) comes before its conversation: the link is made when it is read.
fn link_later_conversation(txn: &ReadTxn, tenant: &str, s: &mut Submission) -> StoreResult<()> {
    let (None, Some(session)) = (&s.conversation_id, &s.session_id) else {
        return Ok(());
    };
    let id = txn
        .open_table(CONVERSATION_SESSIONS)?
        .get((tenant, session.as_str()))?
        .map(|v| v.value().to_string());
    let Some(id) = id else { return Ok(()) };
    if s.visitor_id.is_none()
        && let Some(v) = txn.open_table(CONVERSATIONS)?.get((tenant, id.as_str()))?
    {
        let c: Conversation = decode("conversations", (tenant, &id), v.value())?;
        s.visitor_id = c.visitor_id;
    }
    s.conversation_id = Some(id);
    Ok(())
}

impl Store {
    /// Stores a submission of an active SUBMIT_FORM tool of the tenant, its values validated
    /// against the tool's form, and queues its webhook delivery (due now) when the tool has a
    /// webhook, all in one durable transaction.
    pub async fn record_submission(
        &self,
        tenant: &str,
        new: NewSubmission,
    ) -> StoreResult<Submission> {
        let tenant = tenant.to_string();
        self.write(move |tx| {
            tenants::require(tx, &tenant)?;
            let tool: Tool = {
                let table = tx.txn.open_table(TOOLS)?;
                let bytes = table
                    .get((tenant.as_str(), new.tool_id.as_str()))?
                    .ok_or(StoreError::NotFound("Tool"))?;
                decode("tools", (&tenant, &new.tool_id), bytes.value())?
            };
            if tool.tool_type != ToolType::SubmitForm {
                return Err(StoreError::invalid(
                    "toolId",
                    format!(
                        "{} is a {}, not a SUBMIT_FORM tool",
                        tool.id, tool.tool_type
                    ),
                ));
            }
            if !tool.is_active {
                return Err(StoreError::invalid("toolId", "this form is not active"));
            }
            let values = validate_values(&form_fields(&tool.config), &new.values)
                .map_err(|e| StoreError::invalid(&e.field, e.rule))?;
            let linked = match (&new.conversation_id, &new.session_id) {
                (Some(id), _) => conversation(tx, &tenant, id)?,
                (None, Some(session)) => conversation_of_session(tx, &tenant, session)?,
                (None, None) => None,
            };
            let created_at = tx.unique_now();
            let url = webhook_url(&tool.config).map(str::to_string);
            let submission = Submission {
                id: new_id("sub_"),
                tool_id: tool.id.clone(),
                tool_name: tool.name.clone(),
                conversation_id: linked.as_ref().map(|c| c.id.clone()),
                session_id: new
                    .session_id
                    .clone()
                    .or_else(|| linked.as_ref().map(|c| c.session_id.clone())),
                visitor_id: match new.visitor_id.clone() {
                    // Only a visitor of this tenant: the link is what deletes the submission
                    // with the visitor.
                    Some(id) => tx
                        .txn
                        .open_table(VISITORS)?
                        .get((tenant.as_str(), id.as_str()))?
                        .map(|_| id),
                    None => linked.as_ref().and_then(|c| c.visitor_id.clone()),
                },
                values,
                created_at,
                webhook: match url {
                    Some(_) => WebhookDelivery {
                        status: DeliveryStatus::Pending,
                        delivery_id: Some(new_id("dlv_")),
                        ..WebhookDelivery::none()
                    },
                    None => WebhookDelivery::none(),
                },
            };
            save(tx, &tenant, &submission)?;
            if let Some(url) = url {
                tx.txn.open_table(WEBHOOK_OUTBOX)?.insert(
                    (created_at.micros(), tenant.as_str(), submission.id.as_str()),
                    encode(&OutboxJob { url })?.as_slice(),
                )?;
            }
            Ok(submission)
        })
        .await
    }

    /// Newest first, optionally of one tool.
    pub async fn list_submissions(
        &self,
        tenant: &str,
        tool_id: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> StoreResult<SubmissionPage> {
        let (tenant, tool_id) = (tenant.to_string(), tool_id.map(str::to_string));
        let all = self
            .read_owned(move |txn| {
                let (tenant, tool_id) = (tenant.as_str(), tool_id.as_deref());
                scan(txn, tenant, tool_id)
            })
            .await?;
        let total = all.len();
        let submissions = all.into_iter().rev().skip(offset).take(limit).collect();
        Ok(SubmissionPage { submissions, total })
    }

    /// The names of every value the tenant's submissions (optionally of one tool) hold: the
    /// CSV export's columns for fields no current form has. Scans, on the blocking pool.
    pub async fn submission_value_names(
        &self,
        tenant: &str,
        tool_id: Option<String>,
    ) -> StoreResult<BTreeSet<String>> {
        let tenant = tenant.to_string();
        self.read_blocking(move |store| {
            store.read(|txn| {
                let table = txn.open_table(SUBMISSIONS)?;
                let mut names = BTreeSet::new();
                for row in tenant_records(&table, &tenant)? {
                    let (_, s): (String, Submission) = row?;
                    if tool_id.as_deref().is_none_or(|t| t == s.tool_id) {
                        names.extend(s.values.into_keys());
                    }
                }
                Ok(names)
            })
        })
        .await
    }

    /// Up to `max` submissions (optionally of one tool) after the id `after`, oldest first,
    /// each chunk its own short read: the CSV export streams them. The second value is the
    /// cursor for the next chunk, `None` at the end.
    pub async fn export_submissions_chunk(
        &self,
        tenant: &str,
        tool_id: Option<String>,
        after: Option<String>,
        max: usize,
    ) -> StoreResult<(Vec<Submission>, Option<String>)> {
        let tenant = tenant.to_string();
        self.read_blocking(move |store| {
            store.read(|txn| {
                let table = txn.open_table(SUBMISSIONS)?;
                let start = after.as_deref().unwrap_or("");
                let mut found = Vec::new();
                let mut last = None;
                for row in table.range((tenant.as_str(), start)..)? {
                    let (key, value) = row?;
                    let (t, id) = key.value();
                    if t != tenant {
                        break;
                    }
                    if after.as_deref() == Some(id) {
                        continue;
                    }
                    if found.len() >= max {
                        return Ok((found, last));
                    }
                    let mut s: Submission = decode("submissions", (t, id), value.value())?;
                    last = Some(id.to_string());
                    if tool_id.as_deref().is_none_or(|tool| tool == s.tool_id) {
                        link_later_conversation(txn, &tenant, &mut s)?;
                        found.push(s);
                    }
                }
                Ok((found, None))
            })
        })
        .await
    }

    pub async fn get_submission(&self, tenant: &str, id: &str) -> StoreResult<Option<Submission>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read_owned(move |txn| {
            let (tenant, id) = (tenant.as_str(), id.as_str());
            let table = txn.open_table(SUBMISSIONS)?;
            let found = match table.get((tenant, id))? {
                Some(v) => {
                    let mut s = decode("submissions", (tenant, id), v.value())?;
                    link_later_conversation(txn, tenant, &mut s)?;
                    Some(s)
                }
                None => None,
            };
            Ok(found)
        })
        .await
    }

    /// Up to `max` deliveries due at `now`, earliest first.
    pub async fn due_webhooks(&self, now: Timestamp, max: usize) -> StoreResult<Vec<DueWebhook>> {
        self.read_owned(move |txn| {
            let outbox = txn.open_table(WEBHOOK_OUTBOX)?;
            let submissions = txn.open_table(SUBMISSIONS)?;
            let mut due = Vec::new();
            for row in outbox.range((i64::MIN, "", "")..=(now.micros(), "\u{10FFFF}", ""))? {
                if due.len() >= max {
                    break;
                }
                let (key, value) = row?;
                let (at, tenant, id) = key.value();
                if at > now.micros() {
                    break;
                }
                let job: OutboxJob = decode("webhook_outbox", (at, tenant, id), value.value())?;
                let Some(bytes) = submissions.get((tenant, id))? else {
                    // The submission went with its tenant: nothing left to deliver.
                    continue;
                };
                let mut submission = decode("submissions", (tenant, id), bytes.value())?;
                link_later_conversation(txn, tenant, &mut submission)?;
                due.push(DueWebhook {
                    tenant: tenant.to_string(),
                    due: Timestamp::from_micros(at),
                    url: job.url,
                    submission,
                });
            }
            Ok(due)
        })
        .await
    }

    /// Records one delivery attempt of `job`: delivered (`Ok`), or failed with the reason and,
    /// when attempts remain, the instant of the next one (otherwise the delivery has failed for
    /// good). Returns the submission as updated.
    pub async fn record_webhook_attempt(
        &self,
        job: &DueWebhook,
        outcome: Result<(), String>,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<Submission> {
        let (tenant, id, due, url) = (
            job.tenant.clone(),
            job.submission.id.clone(),
            job.due.micros(),
            job.url.clone(),
        );
        self.write(move |tx| {
            let now = tx.unique_now();
            let mut outbox = tx.txn.open_table(WEBHOOK_OUTBOX)?;
            outbox.remove((due, tenant.as_str(), id.as_str()))?;
            let Some(mut submission) = load(tx, &tenant, &id)? else {
                return Err(StoreError::NotFound("Submission"));
            };
            let hook = &mut submission.webhook;
            hook.attempts += 1;
            hook.last_attempt_at = Some(now);
            match (&outcome, retry_at) {
                (Ok(()), _) => {
                    hook.status = DeliveryStatus::Delivered;
                    hook.delivered_at = Some(now);
                    hook.last_error = None;
                }
                (Err(reason), Some(at)) => {
                    hook.status = DeliveryStatus::Pending;
                    hook.last_error = Some(reason.clone());
                    outbox.insert(
                        (at.micros(), tenant.as_str(), id.as_str()),
                        encode(&OutboxJob { url: url.clone() })?.as_slice(),
                    )?;
                }
                (Err(reason), None) => {
                    hook.status = DeliveryStatus::Failed;
                    hook.last_error = Some(reason.clone());
                }
            }
            drop(outbox);
            save(tx, &tenant, &submission)?;
            Ok(submission)
        })
        .await
    }

    /// The tenant's sealed webhook signing secret, if it has one.
    pub async fn webhook_secret(&self, tenant: &str) -> StoreResult<Option<Vec<u8>>> {
        let tenant = tenant.to_string();
        self.read_owned(move |txn| {
            let tenant = tenant.as_str();
            let table = txn.open_table(WEBHOOK_SECRETS)?;
            let sealed = table.get(tenant)?.map(|v| v.value().to_vec());
            Ok(sealed)
        })
        .await
    }

    /// Stores a sealed signing secret: always when `replace` (a rotation), otherwise only if
    /// the tenant has none yet (the first webhook tool), so two concurrent first tools agree
    /// on one secret. Returns whether it was stored.
    pub async fn put_webhook_secret(
        &self,
        tenant: &str,
        sealed: Vec<u8>,
        replace: bool,
        by: Actor,
    ) -> StoreResult<bool> {
        let tenant = tenant.to_string();
        self.write(move |tx| {
            tenants::require(tx, &tenant)?;
            let mut table = tx.txn.open_table(WEBHOOK_SECRETS)?;
            let existed = table.get(tenant.as_str())?.is_some();
            if !replace && existed {
                return Ok(false);
            }
            table.insert(tenant.as_str(), sealed.as_slice())?;
            drop(table);
            audit::append(
                tx,
                &tenant,
                NewAudit {
                    action: AuditAction::WebhookSecretChanged,
                    actor: by.clone(),
                    target: None,
                    detail: Some(
                        match existed {
                            true => "rotated; the previous secret no longer signs",
                            false => "created with the first webhook tool",
                        }
                        .to_string(),
                    ),
                },
            )?;
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Map, Value, json};

    use super::*;
    use crate::domain::NewTool;
    use crate::store::{Recorded, StoreOptions};

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn config(webhook: bool) -> Map<String, Value> {
        let mut c = json!({"fields": [
            {"name": "name", "label": "Name", "type": "text", "required": true},
            {"name": "email", "label": "Email", "type": "email", "required": true},
        ]});
        if webhook {
            c["webhookUrl"] = json!("https://hooks.example.com/animam");
        }
        c.as_object().unwrap().clone()
    }

    async fn tool(store: &Store, tool_type: ToolType, active: bool, webhook: bool) -> Tool {
        store
            .create_tool(
                "acme",
                NewTool {
                    name: "Contact".into(),
                    description: String::new(),
                    tool_type,
                    config: match tool_type {
                        ToolType::SubmitForm => config(webhook),
                        _ => Map::new(),
                    },
                    segment: None,
                    is_active: active,
                    position: 0,
                },
            )
            .await
            .unwrap()
    }

    fn values(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn new(tool: &str, session: Option<&str>) -> NewSubmission {
        NewSubmission {
            tool_id: tool.into(),
            session_id: session.map(str::to_string),
            values: values(&[("name", "Ada"), ("email", "ada@example.com")]),
            ..NewSubmission::default()
        }
    }

    #[test]
    fn a_submission_is_validated_linked_listed_and_queued_when_the_tool_has_a_webhook() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        run(async {
            store.create_tenant("acme", "Acme").await.unwrap();
            let plain = tool(&store, ToolType::SubmitForm, true, false).await;
            let hooked = tool(&store, ToolType::SubmitForm, true, true).await;
            let exchange = crate::store::tests::exchange("s1");
            let Recorded::Stored(conversation) = store
                .record_exchange("acme", exchange.clone())
                .await
                .unwrap()
            else {
                panic!("not stored")
            };

            let first = store
                .record_submission("acme", new(&plain.id, Some("s1")))
                .await
                .unwrap();
            assert!(first.id.starts_with("sub_"));
            assert_eq!(
                first.conversation_id.as_deref(),
                Some(conversation.id.as_str())
            );
            assert_eq!(first.webhook.status, DeliveryStatus::None);
            let second = store
                .record_submission("acme", new(&hooked.id, Some("no-chat")))
                .await
                .unwrap();
            assert_eq!(second.conversation_id, None);
            assert_eq!(second.webhook.status, DeliveryStatus::Pending);

            let page = store.list_submissions("acme", None, 10, 0).await.unwrap();
            assert_eq!(page.total, 2);
            assert_eq!(page.submissions[0].id, second.id, "newest first");
            let page = store
                .list_submissions("acme", Some(&plain.id), 10, 0)
                .await
                .unwrap();
            assert_eq!(page.total, 1);

            let due = store.due_webhooks(Timestamp::now(), 10).await.unwrap();
            assert_eq!(due.len(), 1);
            assert_eq!(due[0].submission.id, second.id);

            // The conversation of "no-chat" starts after the form: linked when read.
            let mut later = exchange.clone();
            later.start.session_id = "no-chat".into();
            let Recorded::Stored(c) = store.record_exchange("acme", later).await.unwrap() else {
                panic!("not stored")
            };
            let read = store.get_submission("acme", &second.id).await.unwrap();
            assert_eq!(read.unwrap().conversation_id, Some(c.id.clone()));
            let page = store.list_submissions("acme", None, 10, 0).await.unwrap();
            assert_eq!(page.submissions[0].conversation_id, Some(c.id));
            assert_eq!(due[0].url, "https://hooks.example.com/animam");
        });
    }

    #[test]
    fn wrong_tools_and_values_are_refused_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        run(async {
            store.create_tenant("acme", "Acme").await.unwrap();
            store.create_tenant("other", "Other").await.unwrap();
            let form = tool(&store, ToolType::SubmitForm, true, false).await;
            let inactive = tool(&store, ToolType::SubmitForm, false, false).await;
            let escalate = tool(&store, ToolType::EscalateToHuman, true, false).await;
            let field = |e: StoreError| match e {
                StoreError::Invalid { field, .. } => field,
                other => panic!("{other}"),
            };
            let err = store
                .record_submission("acme", new(&inactive.id, None))
                .await;
            assert_eq!(field(err.unwrap_err()), "toolId");
            let err = store
                .record_submission("acme", new(&escalate.id, None))
                .await;
            assert_eq!(field(err.unwrap_err()), "toolId");
            let err = store.record_submission("other", new(&form.id, None)).await;
            assert!(matches!(err, Err(StoreError::NotFound("Tool"))));
            let mut bad = new(&form.id, None);
            bad.values.insert("email".into(), "not-an-email".into());
            let err = store.record_submission("acme", bad).await;
            assert_eq!(field(err.unwrap_err()), "values.email");
            assert_eq!(
                store
                    .list_submissions("acme", None, 10, 0)
                    .await
                    .unwrap()
                    .total,
                0
            );
        });
    }

    #[test]
    fn attempts_retry_then_settle_and_pending_jobs_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
            let id = run(async {
                store.create_tenant("acme", "Acme").await.unwrap();
                let hooked = tool(&store, ToolType::SubmitForm, true, true).await;
                let s = store.record_submission("acme", new(&hooked.id, None)).await;
                s.unwrap().id
            });
            store.close(std::time::Duration::from_secs(1));
            id
        };
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        run(async {
            let due = store.due_webhooks(Timestamp::now(), 10).await.unwrap();
            assert_eq!(due.len(), 1, "the job outlives the process");
            let later = Timestamp::now().plus_secs(60);
            let s = store
                .record_webhook_attempt(&due[0], Err("HTTP 500".into()), Some(later))
                .await
                .unwrap();
            assert_eq!(s.webhook.status, DeliveryStatus::Pending);
            assert_eq!(s.webhook.attempts, 1);
            assert_eq!(s.webhook.last_error.as_deref(), Some("HTTP 500"));
            assert!(
                store
                    .due_webhooks(Timestamp::now(), 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let due = store.due_webhooks(later, 10).await.unwrap();
            assert_eq!(due.len(), 1);
            let s = store.record_webhook_attempt(&due[0], Ok(()), None).await;
            let s = s.unwrap();
            assert_eq!(s.id, id);
            assert_eq!(s.webhook.status, DeliveryStatus::Delivered);
            assert_eq!(s.webhook.attempts, 2);
            assert!(s.webhook.delivered_at.is_some());
            assert!(
                store
                    .due_webhooks(later.plus_secs(3600), 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
        });
    }

    #[test]
    fn a_visitors_submissions_and_their_deliveries_go_with_the_visitor() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        run(async {
            store.create_tenant("acme", "Acme").await.unwrap();
            let hooked = tool(&store, ToolType::SubmitForm, true, true).await;
            let visitor = store
                .create_visitor(
                    "acme",
                    crate::domain::NewVisitor {
                        external_id: Some("v1".into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let mut theirs = new(&hooked.id, None);
            theirs.visitor_id = Some(visitor.id.clone());
            let theirs = store.record_submission("acme", theirs).await.unwrap();
            assert_eq!(theirs.visitor_id.as_deref(), Some(visitor.id.as_str()));
            let mut ghost = new(&hooked.id, None);
            ghost.visitor_id = Some("vis_nobody".into());
            let ghost = store.record_submission("acme", ghost).await.unwrap();
            assert_eq!(ghost.visitor_id, None, "an unknown visitor is not linked");

            store.delete_visitor("acme", &visitor.id).await.unwrap();
            let left = store.list_submissions("acme", None, 10, 0).await.unwrap();
            assert_eq!(left.total, 1);
            assert_eq!(left.submissions[0].id, ghost.id);
            let due = store.due_webhooks(Timestamp::now(), 10).await.unwrap();
            assert_eq!(due.len(), 1);
            assert_eq!(due[0].submission.id, ghost.id);
        });
    }

    #[test]
    fn the_export_reads_in_chunks_with_a_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        run(async {
            store.create_tenant("acme", "Acme").await.unwrap();
            store.create_tenant("zeta", "Zeta").await.unwrap();
            let a = tool(&store, ToolType::SubmitForm, true, false).await;
            let b = tool(&store, ToolType::SubmitForm, true, false).await;
            let mut ids = Vec::new();
            for n in 0..5 {
                let t = if n % 2 == 0 { &a } else { &b };
                let s = store.record_submission("acme", new(&t.id, None)).await;
                ids.push((t.id.clone(), s.unwrap().id));
            }
            let all = |tool: Option<&str>| {
                let store = store.clone();
                let tool = tool.map(str::to_string);
                async move {
                    let mut got = Vec::new();
                    let mut after = None;
                    loop {
                        let (rows, next) = store
                            .export_submissions_chunk("acme", tool.clone(), after, 2)
                            .await
                            .unwrap();
                        assert!(rows.len() <= 2);
                        got.extend(rows.into_iter().map(|s| s.id));
                        match next {
                            Some(n) => after = Some(n),
                            None => return got,
                        }
                    }
                }
            };
            let every: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
            assert_eq!(all(None).await, every);
            let of_a: Vec<String> = ids
                .iter()
                .filter(|(t, _)| *t == a.id)
                .map(|(_, id)| id.clone())
                .collect();
            assert_eq!(all(Some(&a.id)).await, of_a);
            let names = store.submission_value_names("acme", None).await.unwrap();
            assert_eq!(names.into_iter().collect::<Vec<_>>(), ["email", "name"]);
        });
    }

    #[test]
    fn check_finds_a_damaged_submission_and_quarantines_it_with_its_delivery() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
            let id = run(async {
                store.create_tenant("acme", "Acme").await.unwrap();
                let hooked = tool(&store, ToolType::SubmitForm, true, true).await;
                let s = store.record_submission("acme", new(&hooked.id, None)).await;
                s.unwrap().id
            });
            let txn = crate::store::engine::WriteTxn::redb(
                store.shared.db().unwrap().begin_write().unwrap(),
            );
            txn.open_table(SUBMISSIONS)
                .unwrap()
                .insert(("acme", id.as_str()), b"{not json".as_slice())
                .unwrap();
            txn.commit().unwrap();
            store.close(std::time::Duration::from_secs(1));
        }
        let found = crate::store::check::check(dir.path(), false, &mut |_| {}).unwrap();
        assert_eq!(found.problems.len(), 1, "{:?}", found.problems);
        assert!(found.problems[0].starts_with("table submissions"));
        let fixed = crate::store::check::check(dir.path(), true, &mut |_| {}).unwrap();
        assert_eq!(fixed.quarantined, 2, "the submission and its delivery");
        let again = crate::store::check::check(dir.path(), false, &mut |_| {}).unwrap();
        assert!(again.problems.is_empty(), "{:?}", again.problems);
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        assert!(
            run(store.due_webhooks(Timestamp::now(), 10))
                .unwrap()
                .is_empty()
        );
        let page = run(store.list_submissions("acme", None, 10, 0)).unwrap();
        assert_eq!(page.total, 0);
    }

    #[test]
    fn the_first_secret_wins_unless_rotated_and_tenant_rows_go_with_the_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        run(async {
            store.create_tenant("acme", "Acme").await.unwrap();
            assert!(
                store
                    .put_webhook_secret("acme", vec![1], false, Actor::cli())
                    .await
                    .unwrap()
            );
            assert!(
                !store
                    .put_webhook_secret("acme", vec![2], false, Actor::cli())
                    .await
                    .unwrap()
            );
            assert_eq!(store.webhook_secret("acme").await.unwrap(), Some(vec![1]));
            assert!(
                store
                    .put_webhook_secret("acme", vec![3], true, Actor::cli())
                    .await
                    .unwrap()
            );
            assert_eq!(store.webhook_secret("acme").await.unwrap(), Some(vec![3]));

            let hooked = tool(&store, ToolType::SubmitForm, true, true).await;
            store
                .record_submission("acme", new(&hooked.id, None))
                .await
                .unwrap();
            store
                .write(|tx| remove_tenant_rows(tx, "acme"))
                .await
                .unwrap();
            assert_eq!(
                store
                    .list_submissions("acme", None, 10, 0)
                    .await
                    .unwrap()
                    .total,
                0
            );
            assert!(
                store
                    .due_webhooks(Timestamp::now(), 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(store.webhook_secret("acme").await.unwrap(), None);
        });
    }
}
