//! Requests that take more than one round (2026-07-28, SEP-2322): a server
//! may answer `tools/call`, `prompts/get` or `resources/read` with
//! `resultType: "input_required"`, the questions it needs answered
//! (`inputRequests`) and an opaque `requestState`. The client answers the
//! questions and sends the request again, as a new request (a new JSON-RPC
//! id), with the answers and the `requestState` exactly as it came, or none
//! where none came. A result without `resultType` is complete.

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, GetPromptRequestParams, GetPromptResponse,
    InputRequest, InputRequiredResult, InputResponses, ReadResourceRequestParams,
    ReadResourceResponse,
};

use super::Handler;
use crate::{Error, Result};

/// How many `input_required` answers one request may get before the client
/// gives up on it.
pub(crate) const MAX_ROUNDS: usize = 10;

/// One answer to a request that may take several rounds.
pub(crate) enum Round<T> {
    /// The final result.
    Complete(T),
    /// The server needs input first.
    InputRequired(InputRequiredResult),
}

/// The parameters of a request that can be sent again with answers.
pub(crate) trait Retried {
    /// Sets what the next round carries: the answers and the state, each
    /// `None` when the server asked nothing or sent no state.
    fn set_round(&mut self, answers: Option<InputResponses>, state: Option<String>);
}

macro_rules! retried {
    ($($params:ty),*) => {$(
        impl Retried for $params {
            fn set_round(&mut self, answers: Option<InputResponses>, state: Option<String>) {
                self.input_responses = answers;
                self.request_state = state;
            }
        }
    )*};
}
retried!(
    CallToolRequestParams,
    GetPromptRequestParams,
    ReadResourceRequestParams
);

/// One round of a tool call; a task (which this client does not follow)
/// is an error.
pub(crate) fn call_round(
    response: CallToolResponse,
    target: &str,
) -> Result<Round<rmcp::model::CallToolResult>> {
    match response {
        CallToolResponse::Complete(result) => Ok(Round::Complete(result)),
        CallToolResponse::InputRequired(input) => Ok(Round::InputRequired(input)),
        _ => Err(protocol(
            target,
            "the server made the call a task, which this client does not follow",
        )),
    }
}

/// One round of a prompt request.
pub(crate) fn prompt_round(
    response: GetPromptResponse,
    target: &str,
) -> Result<Round<rmcp::model::GetPromptResult>> {
    match response {
        GetPromptResponse::Complete(result) => Ok(Round::Complete(result)),
        GetPromptResponse::InputRequired(input) => Ok(Round::InputRequired(input)),
        _ => Err(protocol(
            target,
            "the server answered with an unknown kind of result",
        )),
    }
}

/// One round of a resource read.
pub(crate) fn read_round(
    response: ReadResourceResponse,
    target: &str,
) -> Result<Round<rmcp::model::ReadResourceResult>> {
    match response {
        ReadResourceResponse::Complete(result) => Ok(Round::Complete(result)),
        ReadResourceResponse::InputRequired(input) => Ok(Round::InputRequired(input)),
        _ => Err(protocol(
            target,
            "the server answered with an unknown kind of result",
        )),
    }
}

/// Sends `params` through `once` until the server completes the request,
/// answering its questions with `handler` in between.
pub(crate) async fn until_complete<P, T, F, Fut>(
    handler: &Handler,
    target: &str,
    mut params: P,
    once: F,
) -> Result<T>
where
    P: Retried + Clone,
    F: Fn(P) -> Fut,
    Fut: Future<Output = Result<Round<T>>>,
{
    let mut quiet_rounds = 0u32;
    for _ in 0..MAX_ROUNDS {
        let input = match once(params.clone()).await? {
            Round::Complete(result) => return Ok(result),
            Round::InputRequired(input) => input,
        };
        let questions = input.input_requests.unwrap_or_default();
        if questions.is_empty() {
            if input.request_state.is_none() {
                return Err(protocol(
                    target,
                    "the server asked for input without saying what it needs",
                ));
            }
            // Only state: the server is not done yet. Wait a little longer
            // each time rather than ask again at once.
            quiet_rounds += 1;
            tokio::time::sleep(Duration::from_millis(50) * quiet_rounds.min(20)).await;
        }
        let mut answers = InputResponses::new();
        for (key, question) in questions {
            let answer = answer(handler, target, question)?;
            answers.insert(key, answer);
        }
        let answers = (!answers.is_empty()).then_some(answers);
        params.set_round(answers, input.request_state);
    }
    Err(protocol(
        target,
        &format!("the server still asked for input after {MAX_ROUNDS} rounds"),
    ))
}

/// The client's answer to one question of the server's.
fn answer(handler: &Handler, target: &str, question: InputRequest) -> Result<serde_json::Value> {
    let answer = match question {
        InputRequest::Elicitation(request) => {
            tracing::debug!(%target, "the server asks for input to go on");
            serde_json::to_value(handler.elicit(request.params))
        }
        // No roots are offered: the list is empty.
        InputRequest::ListRoots(_) => Ok(serde_json::json!({ "roots": [] })),
        InputRequest::CreateMessage(_) => {
            return Err(protocol(
                target,
                "the server asked the client to sample a model, which it does not offer",
            ));
        }
        _ => {
            return Err(protocol(
                target,
                "the server asked for a kind of input this client does not know",
            ));
        }
    };
    answer.map_err(|error| protocol(target, &format!("cannot encode the answer: {error}")))
}

fn protocol(target: &str, detail: &str) -> Error {
    Error::Protocol {
        url: target.to_owned(),
        detail: detail.to_owned(),
    }
}
