//! Unit tests of the Streamable HTTP client's answer handling.

use super::*;

#[test]
fn an_empty_result_to_the_discover_probe_means_an_older_server() {
    let id = RequestId::Number(7);
    let empty: ServerJsonRpcMessage =
        serde_json::from_str(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#).unwrap();
    match legacy_discover_reply(empty, &id) {
        ServerJsonRpcMessage::Error(error) => {
            assert_eq!(error.error.code, ErrorCode::METHOD_NOT_FOUND)
        }
        other => panic!("{other:?}"),
    }
    let event = Sse {
        data: Some(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#.into()),
        ..Sse::default()
    };
    assert!(
        legacy_discover_event(event, &id)
            .data
            .unwrap()
            .contains("-32601")
    );
    let other_id: ServerJsonRpcMessage =
        serde_json::from_str(r#"{"jsonrpc":"2.0","id":8,"result":{}}"#).unwrap();
    assert!(matches!(
        legacy_discover_reply(other_id, &id),
        ServerJsonRpcMessage::Response(_)
    ));
}
