//! Scale-out on Ballista (issue 9, parts 1, 2 and 4): a scheduler and two
//! executors of `cpiq cluster`, started here on 127.0.0.1, run the shipped
//! CPI slices, a correlation, `cpi_slice()` SQL, a job and the shell with
//! results equal to the same commands run in-process; an executor killed
//! mid-query leaves the query completing on the other or failing clearly,
//! never with a wrong answer; a cluster reads a workspace on loopback S3
//! (moto, see `storage`) with stores built from its processes' environment.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{Run, bin, cpiq_in, cpiq_stdin, free_port, records, repo, same_slices};

/// A free port whose successor is free too (an executor uses both).
fn free_port_pair() -> u16 {
    loop {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

/// A `cpiq cluster …` process, killed when dropped; its standard error is
/// collected line by line.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(bin())
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cpiq cluster");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait for a line containing `what` (panics after 60 s or at exit).
    fn wait_for(&mut self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(what) => return l,
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("no {what:?} from {:?}; said: {:#?}", self.child, self.seen),
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One scheduler and `n` executors on loopback.
struct Cluster {
    url: String,
    _scheduler: Proc,
    executors: Vec<Proc>,
    work: tempfile::TempDir,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        Cluster::start_with_env(n, &[])
    }

    /// The processes with `env` set (object-store credentials, say).
    fn start_with_env(n: usize, env: &[(&str, &str)]) -> Cluster {
        let port = free_port();
        let url = format!("df://127.0.0.1:{port}");
        let mut scheduler = Proc::start(
            &[
                "cluster",
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--executor-timeout",
                "4",
            ],
            env,
        );
        scheduler.wait_for("listening on");
        let work = tempfile::tempdir().unwrap();
        let executors = (0..n)
            .map(|i| {
                let dir = work.path().join(format!("executor{i}"));
                let mut e = Proc::start(
                    &[
                        "cluster",
                        "executor",
                        "--scheduler",
                        &url,
                        "--bind",
                        &format!("127.0.0.1:{}", free_port_pair()),
                        "--slots",
                        "2",
                        "--heartbeat",
                        "1",
                        "--memory-limit",
                        "2GiB",
                        "--work-dir",
                        dir.to_str().unwrap(),
                    ],
                    env,
                );
                e.wait_for("ready");
                e
            })
            .collect();
        Cluster {
            url,
            _scheduler: scheduler,
            executors,
            work,
        }
    }

    /// `cpiq --cluster URL ARGS` in `dir`.
    fn cpiq(&self, dir: &Path, args: &[&str]) -> Run {
        let mut all = vec!["--cluster", self.url.as_str()];
        all.extend_from_slice(args);
        cpiq_in(dir, &all)
    }

    /// Jobs whose shuffle files executor `i` wrote.
    fn jobs_run_by(&self, i: usize) -> usize {
        std::fs::read_dir(self.work.path().join(format!("executor{i}")))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().is_dir())
                    .count()
            })
            .unwrap_or(0)
    }
}

fn shipped_cpis() -> Vec<String> {
    records(&cpiq_in(&repo(), &["cpis", "-f", "csv"]).ok())
        .into_iter()
        .map(|r| r["name"].clone())
        .collect()
}

#[test]
fn a_loopback_cluster_gives_the_local_answers() {
    let cluster = Cluster::start(2);
    let repo = repo();

    let check = cluster.cpiq(&repo, &["check"]).ok();
    assert!(
        check.contains("7 of 7 tables registered, 8 of 8 CPIs planned"),
        "{check}"
    );
    assert!(
        check.contains(&format!("Ballista cluster at {}", cluster.url)),
        "{check}"
    );

    // Every shipped CPI sliced two ways: byte-identical to in-process.
    let cpis = shipped_cpis();
    assert_eq!(cpis.len(), 8);
    for cpi in &cpis {
        for args in [
            vec![
                "slice", cpi, "--by", "channel", "--per", "month", "-f", "csv",
            ],
            vec![
                "slice",
                cpi,
                "--by",
                "segment,region",
                "--per",
                "quarter",
                "--compare",
                "previous",
                "-f",
                "csv",
            ],
        ] {
            let local = cpiq_in(&repo, &args).ok();
            let remote = cluster.cpiq(&repo, &args).ok();
            assert!(local.lines().count() > 2, "{cpi}: {local}");
            same_slices(&remote, &local);
        }
    }

    // A correlation, SQL over cpi_slice() and plain SQL.
    for args in [
        vec![
            "correlate",
            "first_contact_resolution,on_time_delivery",
            "--with",
            "kpi_monthly.nps",
            "--by",
            "segment",
            "-f",
            "csv",
        ],
        vec![
            "sql",
            "SELECT cpi, period, value, events FROM cpi_slice('on_time_delivery,first_contact_resolution', 'channel', 'quarter') WHERE events > 10 ORDER BY cpi, period, channel",
            "-f",
            "csv",
        ],
        vec![
            "sql",
            "SELECT channel, count(*) AS n, sum(CASE WHEN delivered_at <= promised_at THEN 1 ELSE 0 END) AS on_time FROM orders GROUP BY channel ORDER BY channel",
            "-f",
            "csv",
        ],
    ] {
        assert_eq!(
            cluster.cpiq(&repo, &args).ok(),
            cpiq_in(&repo, &args).ok(),
            "{args:?}"
        );
    }

    // A job with an export, and the shell reading statements from a pipe.
    let out_local = tempfile::tempdir().unwrap();
    let out_remote = tempfile::tempdir().unwrap();
    let job = repo.join("queries/jobs/cpi_trends.sql");
    let job = job.to_str().unwrap();
    let run = |dir: &Path, cluster_url: Option<&str>| {
        let mut args = Vec::new();
        if let Some(u) = cluster_url {
            args.extend(["--cluster", u]);
        }
        args.extend([
            "run",
            job,
            "-p",
            "from=2024-01-01",
            "--output-dir",
            dir.to_str().unwrap(),
        ]);
        cpiq_in(&repo, &args).ok()
    };
    assert_eq!(
        run(out_remote.path(), Some(&cluster.url)),
        run(out_local.path(), None)
    );
    let mut files: Vec<_> = std::fs::read_dir(out_local.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in &files {
        let read = |d: &Path| {
            let p = d.join(f);
            if p.extension().is_some_and(|e| e == "parquet") {
                cpiq_in(
                    &repo,
                    &[
                        "sql",
                        &format!("SELECT * FROM '{}' ORDER BY ALL", p.display()),
                        "-f",
                        "csv",
                    ],
                )
                .ok()
            } else {
                std::fs::read_to_string(p).unwrap()
            }
        };
        assert_eq!(read(out_remote.path()), read(out_local.path()), "{f:?}");
    }
    let script =
        "\\slice complete_delivery --by channel --per quarter\nSELECT count(*) FROM returns;\n";
    let shell_local = cpiq_stdin(&repo, &["-f", "csv"], script).ok();
    let shell_remote = cpiq_stdin(&repo, &["--cluster", &cluster.url, "-f", "csv"], script).ok();
    assert_eq!(shell_remote, shell_local);

    // The work was done by the executors; a query with more partitions than
    // one executor has slots is spread over both.
    assert!(cluster.jobs_run_by(0) + cluster.jobs_run_by(1) > 0);
    let (before0, before1) = (cluster.jobs_run_by(0), cluster.jobs_run_by(1));
    let spread = [
        "sql",
        "SET datafusion.execution.target_partitions = 4; SELECT channel, count(*) AS n FROM orders GROUP BY channel ORDER BY channel",
        "-f",
        "csv",
    ];
    assert_eq!(
        cluster.cpiq(&repo, &spread).ok(),
        cpiq_in(&repo, &spread).ok()
    );
    assert!(
        cluster.jobs_run_by(0) > before0 && cluster.jobs_run_by(1) > before1,
        "a 4-partition query did not reach both executors"
    );
}

#[test]
fn cluster_addresses_are_checked_before_anything_runs() {
    let repo = repo();
    // Nothing listens there: named at once, not at the first query.
    let url = format!("df://127.0.0.1:{}", free_port());
    let r = cpiq_in(&repo, &["--cluster", &url, "slice", "on_time_delivery"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("cluster {url}: cannot reach the scheduler")),
        "{r:?}"
    );
    let r = cpiq_in(&repo, &["--cluster", "http://h:1", "check"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("expected df://HOST:PORT"), "{r:?}");
    // In cpiq.toml, with its line.
    let ws = crate::support::TempWorkspace::with_tables(&[], "\n[settings]\ncluster = \"h:1\"\n");
    let r = ws.cpiq(&["check"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("cpiq.toml:5"), "{r:?}");
    assert!(r.stderr.contains("settings.cluster"), "{r:?}");
    // Executors need a scheduler address and free ports.
    let r = cpiq_in(&repo, &["cluster", "executor", "--scheduler", "ftp://x"]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn an_executor_killed_mid_query_never_gives_a_wrong_answer() {
    let ws = crate::support::generate(20_000, 24, 11);
    let args = [
        "slice",
        "first_contact_resolution",
        "--by",
        "customer_id",
        "--per",
        "week",
        "-f",
        "csv",
    ];
    let local = cpiq_in(ws.path(), &args).ok();

    let mut cluster = Cluster::start(2);
    let mut all = vec!["--cluster", cluster.url.as_str()];
    all.extend_from_slice(&args);
    let mut query = Command::new(bin())
        .args(&all)
        .current_dir(ws.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the first executor to get work, while the query is running.
    let started = Instant::now();
    let victim = loop {
        if let Some(i) = (0..2).find(|&i| cluster.jobs_run_by(i) > 0) {
            break i;
        }
        assert!(
            query.try_wait().unwrap().is_none(),
            "the query ended before any executor had work"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no executor got work"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        query.try_wait().unwrap().is_none(),
        "the query ended before the kill"
    );
    cluster.executors[victim].kill();
    let killed_at = started.elapsed();

    let r: Run = query.wait_with_output().unwrap().into();
    eprintln!(
        "executor killed {:.2} s into the query; query ended with {} after {:.1} s",
        killed_at.as_secs_f64(),
        r.code,
        started.elapsed().as_secs_f64()
    );
    if r.code == 0 {
        assert_eq!(r.stdout, local, "a wrong answer after losing an executor");
    } else {
        assert!(r.stdout.is_empty(), "a failed query printed rows: {r:?}");
        // The scheduler's error about the lost work, as a runtime error
        // (exit 1): not a crash, a usage error or a client-side failure.
        assert_eq!(r.code, 1, "{r:?}");
        assert!(
            r.stderr.starts_with("error: ") && !r.stderr.contains("panicked"),
            "{r:?}"
        );
        let said = r.stderr.to_lowercase();
        assert!(
            ["job", "task", "executor", "fetch", "shuffle"]
                .iter()
                .any(|w| said.contains(w)),
            "the error does not name the lost work: {r:?}"
        );
    }
    // The cluster still answers on the remaining executor.
    let again = cluster.cpiq(ws.path(), &args).ok();
    assert_eq!(again, local);
}

#[test]
fn a_cluster_reads_a_workspace_on_s3_as_the_local_files() {
    let Some(s3) = crate::storage::moto() else {
        return;
    };
    let ws = crate::storage::sample_on_s3(&s3);
    // Executors and the scheduler find the server from their environment.
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let cluster = Cluster::start_with_env(2, &env);
    let on_cluster = |args: &[&str]| -> String {
        Run::from(
            Command::new(bin())
                .arg("--cluster")
                .arg(&cluster.url)
                .args(args)
                .current_dir(ws.path())
                .envs(env[..2].iter().copied())
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
        .ok()
    };
    for cpi in [
        "on_time_delivery",
        "time_to_first_response",
        "resolved_within_sla",
    ] {
        let args = [
            "slice", cpi, "--by", "region", "--per", "quarter", "-f", "csv",
        ];
        same_slices(&on_cluster(&args), &cpiq_in(&repo(), &args).ok());
    }
    let corr = [
        "correlate",
        "on_time_delivery",
        "--with",
        "kpi_monthly.churn_rate",
        "-f",
        "csv",
    ];
    assert_eq!(on_cluster(&corr), cpiq_in(&repo(), &corr).ok());
    assert!(cluster.jobs_run_by(0) + cluster.jobs_run_by(1) > 0);
}
