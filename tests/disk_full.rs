//! A full disk: writes fail with a JSON 503 and a clear log line, reads keep working,
//! `/health` says degraded, and writes recover by themselves once space returns. The data
//! directory is a 3 MiB tmpfs mounted by the test (root only; elsewhere the test says why it
//! did not run).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::support::Server;

/// Unmounts on drop, whatever happened.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Result<Mount, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let out = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(Mount(dir.to_path_buf()))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Fills the file system holding `path` (writes until it refuses).
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

#[test]
fn a_full_disk_degrades_writes_only_and_recovers() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mount = match mount_tmpfs(&data, "3m") {
        Ok(mount) => mount,
        Err(reason) => {
            eprintln!(
                "SKIPPED a_full_disk_degrades_writes_only_and_recovers: cannot mount a tmpfs ({reason})"
            );
            return;
        }
    };
    let mut server = Server::start_in(root, &[]);
    let kept =
        server.corpus(&json!({"title": "Refund policy", "content": "Refunds within 30 days."}));
    let filler = server.data_dir().join("filler");
    fill(&filler);

    // Writes until the disk refuses one (redb may still have free pages for the first few).
    let big = "lorem ipsum dolor sit amet ".repeat(1500);
    let mut refused = None;
    for i in 0..200 {
        let r = server.post(
            "/tenants/acme/corpus",
            &server.admin,
            &json!({"title": format!("Filler {i}"), "content": big}),
        );
        if r.status != 201 {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("the full disk never refused a write");
    refused.assert_error(
        503,
        "The service cannot take this request now; try again shortly",
        "unavailable",
    );
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert!(
        server.log_shows("store: writes failing"),
        "{}",
        server.log()
    );
    assert!(
        server.log_shows("No space left on device"),
        "{}",
        server.log()
    );

    // Reads work; health says degraded; further writes are refused the same way.
    let r = server.get(&format!("/tenants/acme/corpus/{kept}"), &server.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(server.search_ids("refunds"), vec![kept.clone()]);
    let health = server.request("GET", "/health", &[], None);
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["status"], "degraded");
    assert!(
        health.json()["reason"]
            .as_str()
            .unwrap()
            .contains("No space left"),
        "{}",
        health.text
    );
    let chat = server.request(
        "POST",
        "/chat/acme",
        &[],
        Some(&json!({"message": "refunds?", "sessionId": "s", "stream": false}).to_string()),
    );
    assert_eq!(chat.status, 503, "{}", chat.text);

    // Space comes back: writes go through again without a restart (a second after the last
    // failure at most: until then they are refused without touching the disk).
    std::fs::remove_file(&filler).unwrap();
    let shipping = json!({"title": "Shipping", "content": "Ships in 3 days."});
    let started = std::time::Instant::now();
    let back = loop {
        let r = server.post("/tenants/acme/corpus", &server.admin, &shipping);
        if r.status == 201 {
            break r.json()["id"].as_str().unwrap().to_string();
        }
        assert_eq!(r.status, 503, "{}", r.text);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "writes never recovered"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(server.log_shows("store: writes work again"));
    let health = server.request("GET", "/health", &[], None);
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    server.stop();
    server.launch(&[]);
    for id in [&kept, &back] {
        assert_eq!(
            server
                .get(&format!("/tenants/acme/corpus/{id}"), &server.admin)
                .status,
            200
        );
    }
    server.stop();
    drop(mount);
}
