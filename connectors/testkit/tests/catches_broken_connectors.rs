//! The suite against an in-memory connector with one deliberate bug at a time: a correct
//! connector passes every check, and each bug fails exactly the check meant to catch it.

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tributary_connector::{
    async_trait, ConfigError, Connector, ConnectorError, ConnectorKind, ConnectorSpec, Cursor,
    Page, PullRequest, Record, StreamInfo, StreamName, TenantId,
};
use tributary_connector_testkit::{
    Check, Conformance, Fault, HugePage, MockSource, OddRecord, Outcome, Report,
};

/// The one thing a fake connector gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    /// Repeats the last record of a page at the start of the next.
    DuplicatesAcrossPages,
    /// Cycles between two cursors forever.
    CyclesBetweenCursors,
    /// Retries a failed request itself and returns the page.
    RetriesInternally,
    /// Classes 401/403 as permanent.
    AuthIsPermanent,
    /// Returns different data on every pull.
    ChangesDataOnEveryPull,
    /// Reads any cursor it cannot parse as "from the start".
    AcceptsForeignCursors,
    /// `check()` makes no request.
    CheckDoesNothing,
    /// Keeps its position in memory and ignores the cursor it is given once it has one.
    RemembersPosition,
    /// Mangles non-ASCII text.
    StripsNonAscii,
}

/// Everything one fake source holds: its bug, the injected fault, the connector's memory.
#[derive(Debug)]
struct Source {
    bug: Bug,
    fault: Mutex<Option<Fault>>,
    position: Mutex<Option<usize>>,
    pulls: Mutex<u64>,
}

/// Sources by index: the spec's factory is a plain `fn`, so settings name the source.
static SOURCES: Mutex<Vec<Arc<Source>>> = Mutex::new(Vec::new());

const PAGE_SIZE: usize = 3;
const RECORDS: usize = 10;
const HUGE_RECORDS: usize = 1_200;

fn record_count(tenant: &str) -> usize {
    match tenant {
        "empty" => 0,
        "huge" => HUGE_RECORDS,
        _ => RECORDS,
    }
}

fn record_data(stream: &str, index: usize) -> Value {
    let mut data = json!({
        "id": format!("{stream}-{index}"),
        "name": format!("Zoë №{index} 🦀"),
        "price": format!("{index}.50"),
        "note": null,
        "address": {"city": "Zürich", "zip": "8001"},
    });
    if index == 0 {
        data["address"]["line2"] = Value::Null;
    }
    data
}

#[derive(Debug)]
struct FakeConnector {
    kind: ConnectorKind,
    source: Arc<Source>,
}

fn build(settings: &Value) -> Result<Arc<dyn Connector>, ConfigError> {
    let index = settings["source"].as_u64().ok_or_else(|| ConfigError {
        kind: "fake".to_owned(),
        message: "field `source`: missing".to_owned(),
    })?;
    let source = SOURCES.lock().unwrap()[index as usize].clone();
    Ok(Arc::new(FakeConnector {
        kind: ConnectorKind::new("fake").unwrap(),
        source,
    }))
}

fn spec() -> ConnectorSpec {
    ConnectorSpec {
        kind: "fake",
        description: "An in-memory source with configurable bugs.",
        build,
    }
}

impl FakeConnector {
    fn take_fault(&self) -> Option<ConnectorError> {
        let fault = self.source.fault.lock().unwrap().take()?;
        Some(match fault {
            Fault::RateLimited { retry_after } => ConnectorError::RateLimited {
                retry_after,
                message: "slow down".to_owned(),
            },
            Fault::ServerError { status } => ConnectorError::Transient {
                status: Some(status),
                message: "oops".to_owned(),
            },
            Fault::Unauthorized { status } if self.source.bug == Bug::AuthIsPermanent => {
                ConnectorError::Permanent {
                    status: Some(status),
                    message: "denied".to_owned(),
                }
            }
            Fault::Unauthorized { status } => ConnectorError::Auth {
                status: Some(status),
                message: "denied".to_owned(),
            },
            Fault::MalformedBody => ConnectorError::Malformed {
                message: "cut".to_owned(),
            },
            _ => unreachable!("no other faults exist yet"),
        })
    }
}

#[async_trait]
impl Connector for FakeConnector {
    fn kind(&self) -> &ConnectorKind {
        &self.kind
    }

    fn streams(&self) -> Vec<StreamInfo> {
        ["items", "things"]
            .into_iter()
            .map(|name| StreamInfo {
                name: StreamName::new(name).unwrap(),
                description: String::new(),
            })
            .collect()
    }

    async fn check(&self, _tenant: &TenantId) -> Result<(), ConnectorError> {
        if self.source.bug == Bug::CheckDoesNothing {
            return Ok(());
        }
        match self.take_fault() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    async fn pull(&self, request: PullRequest<'_>) -> Result<Page, ConnectorError> {
        let bug = self.source.bug;
        let stream = request.stream.as_str();
        if !["items", "things"].contains(&stream) {
            return Err(ConnectorError::Config {
                message: format!("no stream {stream}"),
            });
        }
        if let Some(error) = self.take_fault() {
            if bug != Bug::RetriesInternally {
                return Err(error);
            }
        }
        let pull_number = {
            let mut pulls = self.source.pulls.lock().unwrap();
            *pulls += 1;
            *pulls
        };
        let mut start = match request.cursor {
            None => 0,
            Some(cursor) => match cursor.as_str().strip_prefix("fake1:") {
                Some(number) => number.parse().map_err(|_| ConnectorError::CursorInvalid {
                    message: "bad cursor".to_owned(),
                })?,
                None if bug == Bug::AcceptsForeignCursors => 0,
                None => {
                    return Err(ConnectorError::CursorInvalid {
                        message: "not a fake1 cursor".to_owned(),
                    })
                }
            },
        };
        if bug == Bug::RemembersPosition && request.cursor.is_some() {
            if let Some(remembered) = *self.source.position.lock().unwrap() {
                start = remembered;
            }
        }
        let tenant = request.tenant.as_str();
        let total = record_count(tenant);
        let page_size = if tenant == "huge" { total } else { PAGE_SIZE };
        let end = (start + page_size).min(total);
        let from = if bug == Bug::DuplicatesAcrossPages && start > 0 {
            start - 1
        } else {
            start
        };
        let records = (from..end)
            .map(|index| {
                let mut data = record_data(stream, index);
                if bug == Bug::ChangesDataOnEveryPull {
                    data["address"]["pulled"] = json!(pull_number);
                }
                if bug == Bug::StripsNonAscii {
                    let name = data["name"]
                        .as_str()
                        .unwrap()
                        .replace(|c: char| !c.is_ascii(), "?");
                    data["name"] = json!(name);
                }
                Record {
                    external_id: format!("{stream}-{index}"),
                    updated_at: None,
                    created_at: None,
                    data,
                }
            })
            .collect();
        *self.source.position.lock().unwrap() = Some(end);
        let next = if end >= total {
            None
        } else if bug == Bug::CyclesBetweenCursors && start == 2 * PAGE_SIZE {
            // 3 → 6 → 3 → 6 …
            Some(PAGE_SIZE)
        } else {
            Some(end)
        };
        Ok(Page {
            records,
            next_cursor: next.map(|next| Cursor::new(format!("fake1:{next}"))),
            rate_limit: None,
        })
    }
}

/// The mock side of a fake source.
struct FakeMock {
    index: usize,
    source: Arc<Source>,
    can_inject: bool,
    optional_parts: bool,
}

impl FakeMock {
    fn new(bug: Bug) -> Self {
        let source = Arc::new(Source {
            bug,
            fault: Mutex::new(None),
            position: Mutex::new(None),
            pulls: Mutex::new(0),
        });
        let mut sources = SOURCES.lock().unwrap();
        sources.push(source.clone());
        Self {
            index: sources.len() - 1,
            source,
            can_inject: true,
            optional_parts: true,
        }
    }
}

impl MockSource for FakeMock {
    fn settings(&self) -> Value {
        json!({ "source": self.index })
    }

    fn tenant(&self) -> TenantId {
        TenantId::new("acme").unwrap()
    }

    fn expected_ids(&self, tenant: &TenantId, stream: &StreamName) -> Vec<String> {
        (0..record_count(tenant.as_str()))
            .map(|index| format!("{stream}-{index}"))
            .collect()
    }

    fn inject(&self, fault: &Fault) -> bool {
        if self.can_inject {
            *self.source.fault.lock().unwrap() = Some(fault.clone());
        }
        self.can_inject
    }

    fn empty_tenant(&self) -> Option<TenantId> {
        self.optional_parts.then(|| TenantId::new("empty").unwrap())
    }

    fn huge_page(&self) -> Option<HugePage> {
        self.optional_parts.then(|| HugePage {
            tenant: TenantId::new("huge").unwrap(),
            stream: StreamName::new("items").unwrap(),
        })
    }

    fn odd_record(&self) -> Option<OddRecord> {
        self.optional_parts.then(|| OddRecord {
            tenant: TenantId::new("acme").unwrap(),
            stream: StreamName::new("items").unwrap(),
            external_id: "items-0".to_owned(),
            expect: vec![
                ("/name".to_owned(), json!("Zoë №0 🦀")),
                ("/note".to_owned(), Value::Null),
                ("/price".to_owned(), json!("0.50")),
                (
                    "/address".to_owned(),
                    json!({"city": "Zürich", "zip": "8001", "line2": null}),
                ),
            ],
        })
    }
}

async fn evaluate(mock: &FakeMock) -> Report {
    Conformance::new(spec(), mock)
        .pull_timeout(Duration::from_secs(5))
        .evaluate()
        .await
}

fn failure(report: &Report, check: Check) -> String {
    report
        .results
        .iter()
        .find(|result| result.check == check)
        .and_then(|result| match &result.outcome {
            Outcome::Failed(why) => Some(why.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("`{check}` did not fail:\n{report}"))
}

#[tokio::test]
async fn a_correct_connector_passes_every_check() {
    let mock = FakeMock::new(Bug::None);
    let report = Conformance::new(spec(), &mock)
        .require_every_check()
        .run()
        .await;
    assert_eq!(report.passed(), Check::ALL.to_vec(), "{report}");
    let text = report.to_string();
    assert!(
        text.starts_with("conformance of connector `fake`: 15 passed, 0 skipped, 0 failed"),
        "{text}"
    );
}

#[tokio::test]
async fn each_bug_fails_the_check_that_looks_for_it() {
    let cases: [(Bug, Check, &str); 10] = [
        (
            Bug::DuplicatesAcrossPages,
            Check::PaginateToEnd,
            "returned 3 ids more than once: `items-2`, `items-5`, `items-8`",
        ),
        (
            Bug::CyclesBetweenCursors,
            Check::PaginateToEnd,
            "did not reach `next_cursor == None` within 12 pages",
        ),
        (
            Bug::RetriesInternally,
            Check::MalformedBody,
            "must surface the failure, not retry or ignore it",
        ),
        (
            Bug::AuthIsPermanent,
            Check::UnauthorizedIsAuth,
            "expected `auth`, got `permanent`",
        ),
        (
            Bug::ChangesDataOnEveryPull,
            Check::IdempotentRepull,
            "changed the data of `items-0` at /address/pulled",
        ),
        (
            Bug::AcceptsForeignCursors,
            Check::ForeignCursor,
            "a cursor the connector never wrote returned a page of 3 records",
        ),
        (
            Bug::CheckDoesNothing,
            Check::UnauthorizedIsAuth,
            "check() must make a request that proves access",
        ),
        (
            Bug::RemembersPosition,
            Check::ResumeFromEveryCursor,
            "resuming `items` from cursor #1 \"fake1:3\" (after 3 records) returned 0 records where 7 remain",
        ),
        (
            Bug::StripsNonAscii,
            Check::OddValues,
            "`items-0` at /name: expected \"Zoë №0 🦀\", found \"Zo? ?0 ?\"",
        ),
        (
            Bug::RetriesInternally,
            Check::RateLimitedWithRetryAfter,
            "after 429 with Retry-After: 7, the pull returned a page of 3 records",
        ),
    ];
    for (bug, check, expected) in cases {
        let mock = FakeMock::new(bug);
        let report = evaluate(&mock).await;
        let why = failure(&report, check);
        assert!(why.contains(expected), "{bug:?} / {check}: {why}");
    }
}

#[tokio::test]
async fn a_mock_without_optional_parts_gets_skips_and_require_every_check_refuses_them() {
    let mut mock = FakeMock::new(Bug::None);
    mock.can_inject = false;
    mock.optional_parts = false;
    let report = evaluate(&mock).await;
    assert_eq!(
        report.skipped(),
        [
            Check::EmptySource,
            Check::HugePage,
            Check::OddValues,
            Check::RateLimitedWithRetryAfter,
            Check::RateLimitedWithoutRetryAfter,
            Check::ServerErrorIsTransient,
            Check::UnauthorizedIsAuth,
            Check::MalformedBody,
        ],
        "{report}"
    );
    assert!(report.failed().is_empty(), "{report}");
    // `run` accepts skips unless told otherwise.
    Conformance::new(spec(), &mock).run().await;

    let panic = tokio::spawn(async move {
        Conformance::new(spec(), &mock)
            .require_every_check()
            .run()
            .await;
    })
    .await
    .unwrap_err()
    .into_panic();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("connector `fake` failed 8 conformance check(s):"),
        "{message}"
    );
    assert!(
        message.contains(
            "`huge_page` was skipped, but every check is required: the mock offers no huge page"
        ),
        "{message}"
    );
}

#[tokio::test]
#[should_panic(
    expected = "connector `fake` failed 1 conformance check(s):\n  - `build`: the spec refused the mock's settings"
)]
async fn settings_the_spec_refuses_fail_the_build_check_and_skip_the_rest() {
    struct Refused;
    impl MockSource for Refused {
        fn settings(&self) -> Value {
            json!({})
        }
        fn tenant(&self) -> TenantId {
            TenantId::new("acme").unwrap()
        }
        fn expected_ids(&self, _: &TenantId, _: &StreamName) -> Vec<String> {
            Vec::new()
        }
        fn inject(&self, _: &Fault) -> bool {
            false
        }
    }
    let report = Conformance::new(spec(), Refused).evaluate().await;
    assert_eq!(report.failed(), [Check::Build]);
    assert_eq!(report.skipped().len(), Check::ALL.len() - 1);
    Conformance::new(spec(), Refused).run().await;
}
