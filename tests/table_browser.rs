//! The table browser `make run` starts (dynamodb-admin, pinned in tools/) answers on
//! 127.0.0.1 and lists both tables of DynamoDB Local. (`make ui-check` opens it in Chromium.)

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

#[tokio::test]
async fn the_table_browser_answers_on_loopback_and_lists_both_tables() {
    let env = TestEnv::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let script = repo_root().join("scripts/table-browser");
    let mut child = Command::new(&script)
        .arg(port.to_string())
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (is `make tools` done?)",
                script.display()
            )
        });
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        if let Some(page) = get(port, "/") {
            break page;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let mut errors = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut errors);
            }
            panic!("the table browser did not answer on 127.0.0.1:{port}: {errors}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        page.starts_with("HTTP/1.1 200"),
        "{}",
        &page[..page.len().min(200)]
    );
    for table in [&env.persons_table, &env.clients_table] {
        assert!(page.contains(table.as_str()), "{table} is not listed");
    }
}
