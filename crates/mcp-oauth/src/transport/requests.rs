//! The requests of a [`Connection`] for tools, resources and prompts: from
//! 2026-07-28 on, a tool is called only once its schema is known (its
//! `Mcp-Param-*` headers come from it), a tool left out of the listing for
//! invalid header annotations is not called at all, and a request the
//! server answers with `input_required` is sent again until it completes.

use std::sync::atomic::Ordering;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, GetPromptRequestParams, GetPromptResult, JsonObject,
    Prompt, ReadResourceRequestParams, ReadResourceResult, Resource, Tool,
};

use super::{
    Connection,
    rounds::{call_round, prompt_round, read_round, until_complete},
};
use crate::{Error, Result};

impl Connection {
    pub(crate) async fn list_tools(&self) -> Result<Vec<Tool>> {
        let tools = self
            .peer
            .list_all_tools()
            .await
            .map_err(|e| self.error(e))?;
        self.tools_listed.store(true, Ordering::Release);
        Ok(tools)
    }

    /// Calls a tool. From 2026-07-28 on, the tools are listed first unless
    /// they were on this connection: the call's `Mcp-Param-*` headers come
    /// from the tool's schema, and a tool whose annotations are invalid is
    /// refused here, with the reason, rather than sent.
    pub(crate) async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult> {
        // The headers are HTTP's; over stdio the schema is not needed first.
        if self.via == super::ConnectedVia::StreamableHttp && self.standard_headers() {
            if !self.tools_listed.load(Ordering::Acquire) {
                self.list_tools().await?;
            }
            if let Some(reason) = self.refused.reason(name) {
                return Err(Error::Protocol {
                    url: self.target.clone(),
                    detail: format!(
                        "the tool {name:?} was not called: its x-mcp-header annotations are invalid ({reason})"
                    ),
                });
            }
        }
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = arguments;
        until_complete(&self.handler, &self.target, params, |params| async move {
            let response = self
                .peer
                .call_tool_once(params)
                .await
                .map_err(|e| self.error(e))?;
            call_round(response, &self.target)
        })
        .await
    }

    pub(crate) async fn list_resources(&self) -> Result<Vec<Resource>> {
        self.peer
            .list_all_resources()
            .await
            .map_err(|e| self.error(e))
    }

    pub(crate) async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult> {
        let params = ReadResourceRequestParams::new(uri.to_owned());
        until_complete(&self.handler, &self.target, params, |params| async move {
            let response = self
                .peer
                .read_resource_once(params)
                .await
                .map_err(|e| self.error(e))?;
            read_round(response, &self.target)
        })
        .await
    }

    pub(crate) async fn list_prompts(&self) -> Result<Vec<Prompt>> {
        self.peer
            .list_all_prompts()
            .await
            .map_err(|e| self.error(e))
    }

    pub(crate) async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<GetPromptResult> {
        let mut params = GetPromptRequestParams::new(name.to_owned());
        params.arguments = arguments;
        until_complete(&self.handler, &self.target, params, |params| async move {
            let response = self
                .peer
                .get_prompt_once(params)
                .await
                .map_err(|e| self.error(e))?;
            prompt_round(response, &self.target)
        })
        .await
    }
}
