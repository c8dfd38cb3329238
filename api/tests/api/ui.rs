//! The stewards' page served by `mpi serve` itself: `/` and `/ui/...` from the binary, with
//! their content types, a strict Content-Security-Policy and revalidation by ETag.

use crate::helpers::{ScratchDir, TestServer};

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ASCII header")
}

/// The relative ES module imports of a script (`from './x.js'`).
fn imports(script: &str) -> Vec<String> {
    script
        .split("from './")
        .skip(1)
        .map(|rest| rest.split('\'').next().expect("quoted").to_owned())
        .collect()
}

#[tokio::test]
async fn the_page_and_its_files_come_from_the_binary_with_a_strict_policy() {
    let dir = ScratchDir::new();
    let server = TestServer::start(&dir.path, &["--workers", "1"]);

    let page = server.call_raw("GET", "/", None, &[], None).await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let csp = header(&page, "content-security-policy").to_owned();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let etag = header(&page, "etag").to_owned();
    let html = page.text().await.expect("body");
    assert!(html.contains(r#"<script type="module" src="/ui/app.js"></script>"#));
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains("style="), "no inline style");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from elsewhere"
    );

    // Unchanged: 304 without a body.
    let again = server
        .call_raw("GET", "/", None, &[("If-None-Match", &etag)], None)
        .await;
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);

    // Every file the page and its scripts refer to is served with its type.
    let mut files = vec![
        "app.css".to_owned(),
        "icon.svg".to_owned(),
        "app.js".to_owned(),
    ];
    let mut checked = Vec::new();
    while let Some(file) = files.pop() {
        if checked.contains(&file) {
            continue;
        }
        let response = server
            .call_raw("GET", &format!("/ui/{file}"), None, &[], None)
            .await;
        assert_eq!(response.status(), 200, "/ui/{file}");
        let expected = match file.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected file type {other:?}"),
        };
        assert_eq!(header(&response, "content-type"), expected, "/ui/{file}");
        assert!(header(&response, "content-security-policy").contains("default-src 'self'"));
        let text = response.text().await.expect("body");
        assert!(
            !text.contains("https://"),
            "/ui/{file} refers to the internet"
        );
        if file.ends_with(".js") {
            files.extend(imports(&text));
        }
        checked.push(file);
    }
    assert!(checked.len() >= 8, "{checked:?}");

    let head = server.call_raw("HEAD", "/ui/app.js", None, &[], None).await;
    assert_eq!(head.status(), 200);
    assert_eq!(
        header(&head, "content-type"),
        "text/javascript; charset=utf-8"
    );

    let (status, missing) = server.get("/ui/secrets.txt").await;
    assert_eq!(status, 404);
    assert_eq!(missing["code"], "not_found");
    let (status, _) = server.get("/ui/../Cargo.toml").await;
    assert_eq!(status, 404);
    let (status, wrong) = server.post_empty("/").await;
    assert_eq!(status, 405, "{wrong}");
}
