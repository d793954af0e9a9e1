//! The testkit's MCP server over stdin/stdout, for stdio transport tests.
//!
//! Usage: `mcp-testkit-stdio [VERSION...]`, the protocol revisions to
//! implement (default: all known ones).

use tokio::io::BufReader;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let versions: Vec<&str> = args.iter().map(String::as_str).collect();
    eprintln!("mcp-testkit-stdio: serving on stdin/stdout");
    mcp_oauth_testkit::serve_stdio(
        BufReader::new(tokio::io::stdin()),
        tokio::io::stdout(),
        &versions,
    )
    .await
}
