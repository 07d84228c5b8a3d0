//! The tenant's tools. A tool's segment must exist when it is written (checked in the write).

use super::tables::TOOLS;
use super::writer::Tx;
use super::{Store, StoreError, StoreResult, decode, encode, segments, tenant_records, tenants};
use crate::domain::{NewTool, Tool, ToolPatch};
use crate::ids::new_id;

fn load(tx: &Tx<'_>, tenant: &str, id: &str) -> StoreResult<Option<Tool>> {
    let table = tx.txn.open_table(TOOLS)?;
    let tool = match table.get((tenant, id))? {
        Some(v) => Some(decode("tools", (tenant, id), v.value())?),
        None => None,
    };
    Ok(tool)
}

fn save(tx: &Tx<'_>, tenant: &str, tool: &Tool) -> StoreResult<()> {
    if let Some(slug) = &tool.segment
        && !segments::exists(tx, tenant, slug)?
    {
        return Err(StoreError::invalid(
            "segment",
            format!("no segment '{slug}'; create it under /segments first"),
        ));
    }
    tx.txn
        .open_table(TOOLS)?
        .insert((tenant, tool.id.as_str()), encode(tool)?.as_slice())?;
    Ok(())
}

impl Store {
    pub async fn create_tool(&self, tenant: &str, new: NewTool) -> StoreResult<Tool> {
        let tenant = tenant.to_string();
        self.write(move |tx| {
            tenants::require(tx, &tenant)?;
            let now = tx.unique_now();
            let tool = Tool {
                id: new_id("tool_"),
                name: new.name.clone(),
                description: new.description.clone(),
                tool_type: new.tool_type,
                config: new.config.clone(),
                segment: new.segment.clone(),
                is_active: new.is_active,
                position: new.position,
                created_at: now,
                updated_at: now,
            };
            save(tx, &tenant, &tool)?;
            Ok(tool)
        })
        .await
    }

    /// By position, then oldest first.
    pub async fn list_tools(&self, tenant: &str) -> StoreResult<Vec<Tool>> {
        let tenant = tenant.to_string();
        let mut tools: Vec<Tool> = self
            .read_owned(move |txn| {
                let tenant = tenant.as_str();
                let table = txn.open_table(TOOLS)?;
                tenant_records(&table, tenant)?
                    .map(|row| row.map(|(_, tool)| tool))
                    .collect()
            })
            .await?;
        tools.sort_by_key(|t| (t.position, t.created_at));
        Ok(tools)
    }

    pub async fn get_tool(&self, tenant: &str, id: &str) -> StoreResult<Option<Tool>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read_owned(move |txn| {
            let (tenant, id) = (tenant.as_str(), id.as_str());
            let table = txn.open_table(TOOLS)?;
            let tool = match table.get((tenant, id))? {
                Some(v) => Some(decode("tools", (tenant, id), v.value())?),
                None => None,
            };
            Ok(tool)
        })
        .await
    }

    /// Applies a patch computed by `change` from the current tool, in one transaction.
    pub async fn update_tool<F>(&self, tenant: &str, id: &str, change: F) -> StoreResult<Tool>
    where
        F: Fn(&Tool) -> StoreResult<ToolPatch> + Send + 'static,
    {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.write(move |tx| {
            let mut tool = load(tx, &tenant, &id)?.ok_or(StoreError::NotFound("Tool"))?;
            change(&tool)?.apply(&mut tool);
            tool.updated_at = tx.unique_now().max(tool.created_at);
            save(tx, &tenant, &tool)?;
            Ok(tool)
        })
        .await
    }

    pub async fn delete_tool(&self, tenant: &str, id: &str) -> StoreResult<()> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.write(move |tx| {
            let removed = tx
                .txn
                .open_table(TOOLS)?
                .remove((tenant.as_str(), id.as_str()))?
                .is_some();
            match removed {
                true => Ok(()),
                false => Err(StoreError::NotFound("Tool")),
            }
        })
        .await
    }
}
