//! The web UI's frame: the page layout, the navigation, the style sheet, and small helpers
//! every page uses (times, CSRF fields, pagination). Pages are server-rendered with `maud`,
//! which escapes every interpolated value, so payloads and error text cannot inject markup.
//! There is no JavaScript build step and no script on any page.

use crate::auth::{Principal, Role};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The style sheet, inline: one request per page, nothing to serve or cache-bust.
const STYLE: &str = r#"
:root { --fg:#1d2330; --muted:#5d6678; --line:#dde1e8; --bg:#f6f7f9; --accent:#2458c6; --bad:#b3261e; --ok:#1b7f3b; --warn:#9a6700; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
header { background:#1d2330; color:#fff; padding:0 1.2rem; display:flex; align-items:center; gap:1.4rem; height:3rem; }
header nav { display:flex; gap:1.1rem; }
main.narrow { max-width:30rem; }
header a { color:#cfd6e4; text-decoration:none; } header a:hover, header a.here { color:#fff; }
header .who { margin-left:auto; color:#cfd6e4; display:flex; gap:.8rem; align-items:center; }
header form { margin:0; }
main { padding:1.2rem; max-width:1400px; }
h1 { font-size:1.3rem; margin:.2rem 0 1rem; } h2 { font-size:1.05rem; margin:1.4rem 0 .6rem; }
table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); }
th, td { text-align:left; padding:.4rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#eef0f4; font-weight:600; white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
pre { background:#fff; border:1px solid var(--line); padding:.6rem; overflow:auto; max-height:28rem; white-space:pre-wrap; word-break:break-all; }
code, pre { font:12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, monospace; }
form.filters { display:flex; flex-wrap:wrap; gap:.5rem; align-items:end; margin-bottom:1rem; }
label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:.15rem; }
input, select, textarea, button { font:inherit; padding:.3rem .45rem; border:1px solid #b9c0cc; border-radius:4px; background:#fff; }
textarea { width:100%; min-height:16rem; font-family:ui-monospace, monospace; }
button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; }
button.secondary { background:#fff; color:var(--accent); }
button.danger { background:var(--bad); border-color:var(--bad); }
.muted { color:var(--muted); } .bad { color:var(--bad); } .ok { color:var(--ok); } .warn { color:var(--warn); }
.badge { display:inline-block; padding:0 .4rem; border-radius:3px; font-size:12px; background:#e7eaf0; }
.badge.bad { background:#fbe4e2; } .badge.ok { background:#e1f3e6; } .badge.warn { background:#fdf1d6; }
.flash { padding:.6rem .8rem; border-radius:4px; margin-bottom:1rem; background:#e1f3e6; border:1px solid #b7dfc2; }
.flash.bad { background:#fbe4e2; border-color:#f1b9b4; }
.pager { margin:.8rem 0; display:flex; gap:1rem; }
.cards { display:flex; flex-wrap:wrap; gap:.8rem; margin-bottom:1rem; }
.card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.6rem .9rem; min-width:10rem; }
.card .value { font-size:1.4rem; font-weight:600; }
.actions { display:flex; flex-wrap:wrap; gap:.6rem; align-items:end; margin:1rem 0; }
.actions form { display:flex; gap:.4rem; align-items:end; margin:0; }
"#;

/// The CSP source allowing exactly [`STYLE`] (`sha256-...`): pages carry no other style and no
/// script, so the policy can forbid everything else. Pages must not use `style` attributes.
pub fn style_hash() -> &'static str {
    use base64::Engine;
    use sha2::Digest;
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let digest = sha2::Sha256::digest(STYLE.as_bytes());
        format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    })
}

/// The navigation entries: (path, label, least role that sees it).
const NAV: &[(&str, &str, Role)] = &[
    ("/", "Overview", Role::Viewer),
    ("/dead-letters", "Dead letters", Role::Viewer),
    ("/groups", "Failure groups", Role::Viewer),
    ("/replays", "Replays", Role::Viewer),
    ("/sources", "Sources", Role::Viewer),
    ("/schedules", "Schedules", Role::Viewer),
    ("/reconciliation", "Reconciliation", Role::Viewer),
    ("/audit", "Audit log", Role::Viewer),
    ("/users", "Users & tokens", Role::Admin),
];

/// A full page for a signed-in user: header with navigation (the entry for `here` marked), the
/// user's name and role, a sign-out form, then `body`.
pub fn page(title: &str, here: &str, principal: &Principal, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · queue-admin" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "Tributary" }
                    nav {
                        @for &(path, label, role) in NAV {
                            @if principal.role >= role {
                                a href=(path) class=[(path == here).then_some("here")] { (label) }
                            }
                        }
                    }
                    div.who {
                        span { (principal.actor) " · " (principal.role.as_str()) }
                        @if principal.session.is_some() {
                            form method="post" action="/logout" {
                                (csrf_field(principal))
                                button.secondary type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A bare page (login, errors before sign-in): no navigation.
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · queue-admin" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { strong { "Tributary" } }
                main.narrow {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The page shown for an error.
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    bare_page(
        &format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
        html! {
            p.flash.bad { (message) }
            p { a href="/" { "Back to the overview" } }
        },
    )
}

/// The hidden CSRF field every form carries (empty for token principals, which use no forms).
pub fn csrf_field(principal: &Principal) -> Markup {
    let token = principal
        .session
        .as_ref()
        .map(|session| session.csrf_token.as_str())
        .unwrap_or("");
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A time as `2026-12-05 14:03:22 UTC`, with the age next to it.
pub fn time(at: DateTime<Utc>) -> Markup {
    html! {
        span title=(at.to_rfc3339()) {
            (at.format("%Y-%m-%d %H:%M:%S UTC")) " "
            span.muted { "(" (age(Utc::now() - at)) " ago)" }
        }
    }
}

/// A duration, coarsely: `45 s`, `12 min`, `3 h`, `4 d`.
pub fn age(duration: chrono::TimeDelta) -> String {
    let seconds = duration.num_seconds().max(0);
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        7200..=172_799 => format!("{} h", seconds / 3600),
        _ => format!("{} d", seconds / 86_400),
    }
}

/// A flash message, green or red.
pub fn flash(message: &str, bad: bool) -> Markup {
    html! { div.flash.bad[bad] { (message) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_text_is_escaped() {
        let markup = error_page(StatusCode::BAD_REQUEST, "<script>alert(1)</script>");
        let html = markup.into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
    }

    #[test]
    fn ages_are_coarse() {
        assert_eq!(age(chrono::TimeDelta::seconds(45)), "45 s");
        assert_eq!(age(chrono::TimeDelta::seconds(600)), "10 min");
        assert_eq!(age(chrono::TimeDelta::seconds(3 * 3600)), "3 h");
        assert_eq!(age(chrono::TimeDelta::seconds(5 * 86_400)), "5 d");
    }
}
