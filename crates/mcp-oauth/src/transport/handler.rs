//! Our side of the protocol: who we are, and how server requests are
//! answered (`ping` by rmcp's default; elicitation by policy).

use rmcp::{
    ErrorData, RoleClient,
    model::{
        ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
        Implementation, ProtocolVersion,
    },
    service::RequestContext,
};
use serde_json::{Map, Value};

/// How to answer a server's request for user input (elicitation).
///
/// ```
/// use mcp_oauth::{Client, ElicitationPolicy};
/// let builder = Client::builder("https://mcp.example.com/mcp").elicitation(ElicitationPolicy::Decline);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElicitationPolicy {
    /// Decline every request (the default: no person is asked).
    #[default]
    Decline,
    /// Accept form requests with the defaults their schema gives, for
    /// unattended runs against servers that ask for confirmation.
    AcceptDefaults,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Handler {
    pub(crate) elicitation: ElicitationPolicy,
}

impl rmcp::ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let capabilities = match self.elicitation {
            ElicitationPolicy::Decline => ClientCapabilities::default(),
            ElicitationPolicy::AcceptDefaults => {
                serde_json::from_value(serde_json::json!({ "elicitation": { "form": {} } }))
                    .unwrap_or_default()
            }
        };
        ClientConfig::new(
            capabilities,
            Implementation::new("mcp-oauth", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        Ok(self.elicit(request))
    }
}

impl Handler {
    /// The answer to a request for user input, by policy: asked during a
    /// request, or as a question of a request that takes several rounds.
    pub(crate) fn elicit(&self, request: ElicitRequestParams) -> ElicitResult {
        match (self.elicitation, request) {
            (
                ElicitationPolicy::AcceptDefaults,
                ElicitRequestParams::FormElicitationParams {
                    requested_schema, ..
                },
            ) => {
                let schema = serde_json::to_value(&requested_schema).unwrap_or(Value::Null);
                ElicitResult::new(ElicitationAction::Accept).with_content(defaults_of(&schema))
            }
            _ => ElicitResult::new(ElicitationAction::Decline),
        }
    }
}

/// `{name: default}` for every property of the schema that has a default.
fn defaults_of(schema: &Value) -> Value {
    let mut content = Map::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            if let Some(default) = property.get("default") {
                content.insert(name.clone(), default.clone());
            }
        }
    }
    Value::Object(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_taken_from_the_schema() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "name": { "type": "string", "default": "Ada" },
                "age": { "type": "integer", "default": 36 },
                "note": { "type": "string" }
            }
        });
        assert_eq!(
            defaults_of(&schema),
            serde_json::json!({ "name": "Ada", "age": 36 })
        );
    }
}
